/**
 * The environment a container process starts with, built as a kubelet builds it: Service variables,
 * then envFrom, then env (with $(VAR) references), then what the local kubelet adds for its port
 * mapping. The process inherits nothing else from the host but PATH, which supplies the runtime.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface EnvSources {
  /** A ConfigMap's data, or undefined when it does not exist. */
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A Secret's data, decoded, or undefined when it does not exist. */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** A Service of the pod's namespace as its proxy exposes it. */
export interface ServiceEnv {
  name: string;
  /** In spec order; `name` absent for an unnamed port. */
  ports: { name?: string; port: number }[];
}

/** Host ports of one pod: by containerPort number and by port name. */
export interface PodPorts {
  byNumber: Record<string, number>;
  byName: Record<string, number>;
}

/** A container that cannot start for a reason its spec or its objects give (a kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {}

export const envName = (name: string) => name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

export async function containerEnvironment(
  pod: V1Pod,
  container: V1Container,
  context: { imageEnv: string[]; services: ServiceEnv[]; ports: PodPorts; sources: EnvSources; hostPath: string },
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { PATH: context.hostPath, HOSTNAME: pod.metadata?.name ?? '' };
  for (const entry of context.imageEnv) {
    const at = entry.indexOf('=');
    const key = at < 0 ? entry : entry.slice(0, at);
    // The image's PATH names folders inside a container; the host's runtime is found on the host PATH.
    if (key !== 'PATH') env[key] = at < 0 ? '' : entry.slice(at + 1);
  }
  for (const service of context.services) {
    const first = service.ports[0];
    if (first === undefined) continue;
    const prefix = envName(service.name);
    env[`${prefix}_SERVICE_HOST`] = '127.0.0.1';
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    for (const port of service.ports) if (port.name) env[`${prefix}_SERVICE_PORT_${envName(port.name)}`] = String(port.port);
  }
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref?.name) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = from.configMapRef ? await context.sources.configMap(namespace, ref.name) : await context.sources.secret(namespace, ref.name);
    if (data === undefined) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) env[`${from.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    const value = await valueOf(pod, variable, namespace, context.sources, env);
    if (value !== undefined) env[variable.name] = value;
  }
  // The kubelet's own mapping wins: the process must listen where probes and the proxy look.
  for (const port of container.ports ?? []) {
    const host = context.ports.byNumber[String(port.containerPort)];
    if (host === undefined) continue;
    env[`SLIPWAY_PORT_${port.name ? envName(port.name) : port.containerPort}`] = String(host);
  }
  const first = container.ports?.[0];
  const firstHost = first ? context.ports.byNumber[String(first.containerPort)] : undefined;
  if (firstHost !== undefined) env.PORT = String(firstHost);
  return env;
}

async function valueOf(pod: V1Pod, variable: NonNullable<V1Container['env']>[number], namespace: string, sources: EnvSources, defined: Record<string, string>): Promise<string | undefined> {
  if (variable.value !== undefined) return expand(variable.value, defined);
  const from = variable.valueFrom;
  if (from === undefined) return '';
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const value = (await sources.configMap(namespace, ref.name ?? ''))?.[ref.key];
    if (value === undefined && !ref.optional) throw new ContainerConfigError(`couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name}`);
    return value;
  }
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const value = (await sources.secret(namespace, ref.name ?? ''))?.[ref.key];
    if (value === undefined && !ref.optional) throw new ContainerConfigError(`couldn't find key ${ref.key} in Secret ${namespace}/${ref.name}`);
    return value;
  }
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
  throw new ContainerConfigError(`env ${variable.name}: only value, configMapKeyRef, secretKeyRef and fieldRef are supported by the local kubelet`);
}

function fieldValue(pod: V1Pod, path: string): string {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[keyed[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
    case 'status.hostIP':
    case 'status.hostIPs':
      return '127.0.0.1';
    default:
      throw new ContainerConfigError(`fieldRef ${path} is not supported by the local kubelet`);
  }
}

/** Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, anything else stays as written. */
export function expand(text: string, defined: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in defined ? defined[name]! : match;
  });
}

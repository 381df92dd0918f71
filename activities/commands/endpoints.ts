/**
 * Where a verification command finds an environment's services: the variables Kubernetes gives a
 * pod for each Service of its namespace (MESSAGES_SERVICE_HOST, MESSAGES_SERVICE_PORT,
 * MESSAGES_SERVICE_PORT_GRPC), so a test resolves addresses the way the services themselves do.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { EnvironmentSettings, ServiceSettings } from '../../config/settings';

/** What endpoints need of a service: its name and Kubernetes ports. */
export type EndpointService = Pick<ServiceSettings, 'name'> & { kubernetes?: Pick<NonNullable<ServiceSettings['kubernetes']>, 'deployment' | 'port' | 'grpcPort'> };

export type EndpointEnvironment = Pick<EnvironmentSettings, 'name' | 'namespace'> & { verification: Pick<EnvironmentSettings['verification'], 'endpoints'> };

const publishedSchema = z.array(z.object({ namespace: z.string(), service: z.string(), ports: z.record(z.string(), z.string().regex(/^[^\s:]+:\d+$/)) }));

/** A Service name as Kubernetes spells it in variables: notifications-api → NOTIFICATIONS_API. */
export const variablePrefix = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** Each service's ports by name ("http", "grpc") as host:port; a service the environment does not have is left out. */
export async function resolveEndpoints(environment: EndpointEnvironment, services: EndpointService[]): Promise<Map<string, Record<string, string>>> {
  const endpoints = new Map<string, Record<string, string>>();
  const { servicesFile, host } = environment.verification.endpoints;
  if (servicesFile !== undefined) {
    let published: z.infer<typeof publishedSchema>;
    try {
      published = publishedSchema.parse(JSON.parse(await readFile(servicesFile, 'utf8')));
    } catch (err) {
      throw new Error(`cannot read the service addresses of ${environment.name} from ${servicesFile}: ${err instanceof z.ZodError ? 'not a list of { namespace, service, ports }' : (err as Error).message}`);
    }
    for (const service of services) {
      const deployment = service.kubernetes?.deployment;
      const entry = published.find((p) => p.namespace === environment.namespace && p.service === deployment);
      if (entry !== undefined) endpoints.set(service.name, entry.ports);
    }
    return endpoints;
  }
  for (const service of services) {
    const k8s = service.kubernetes;
    if (k8s === undefined) continue;
    const address = host.replace(/\{\{\s*service\s*\}\}/g, k8s.deployment).replace(/\{\{\s*namespace\s*\}\}/g, environment.namespace);
    // The ports of the Service Slipway's manifests create: http on 80, grpc on the container's port.
    endpoints.set(service.name, { http: `${address}:80`, ...(k8s.grpcPort !== undefined ? { grpc: `${address}:${k8s.grpcPort}` } : {}) });
  }
  return endpoints;
}

/** The Kubernetes-style variables for these endpoints; the first port (http) is <NAME>_SERVICE_PORT. */
export function endpointVariables(endpoints: Map<string, Record<string, string>>, services: EndpointService[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const service of services) {
    const ports = endpoints.get(service.name);
    if (ports === undefined) continue;
    const prefix = variablePrefix(service.kubernetes?.deployment ?? service.name);
    const entries = Object.entries(ports).sort(([a], [b]) => (a === 'http' ? -1 : b === 'http' ? 1 : a < b ? -1 : 1));
    for (const [index, [name, address]] of entries.entries()) {
      const split = address.lastIndexOf(':');
      const [hostPart, port] = [address.slice(0, split), address.slice(split + 1)];
      if (index === 0) {
        env[`${prefix}_SERVICE_HOST`] = hostPart;
        env[`${prefix}_SERVICE_PORT`] = port;
      }
      if (!/^\d+$/.test(name)) env[`${prefix}_SERVICE_PORT_${variablePrefix(name)}`] = port;
    }
  }
  return env;
}

/** Replaces each secret value in a command's output by its variable's name. */
export function redact(text: string, secrets: Record<string, string>): string {
  let out = text;
  for (const [name, value] of Object.entries(secrets)) {
    if (value.length >= 4) out = out.split(value).join(`[${name}]`);
  }
  return out;
}

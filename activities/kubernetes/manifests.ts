/** The Kubernetes objects of one service in one environment, from a template. Pure. */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ServiceSettings } from '../../config/settings';
import { labelValue } from '../observability/rules';

export interface ManifestTarget {
  runId: string;
  branch: string;
  environment: string;
  namespace: string;
}

export function serviceManifests(service: ServiceSettings, target: ManifestTarget): KubernetesObject[] {
  const k8s = service.kubernetes;
  if (k8s === undefined) return [];
  const name = k8s.deployment;
  const selector = { app: name };
  const labels = {
    app: name,
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/managed-by': 'slipway',
    'slipway.dev/run': labelValue(target.runId),
    'slipway.dev/feature': labelValue(target.branch),
  };
  const metadata = { name, namespace: target.namespace, labels };
  const image = k8s.image.replace('{{service}}', service.name);
  const probe = (path: string, delay: number, period: number) => ({ httpGet: { path, port: 'http' }, initialDelaySeconds: delay, periodSeconds: period, failureThreshold: 3 });
  const ports = [{ name: 'http', containerPort: k8s.port }, ...(k8s.grpcPort !== undefined ? [{ name: 'grpc', containerPort: k8s.grpcPort }] : [])];
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...metadata, name: `${name}-config` },
      data: { ...k8s.env, SLIPWAY_ENVIRONMENT: target.environment, SLIPWAY_FEATURE: target.branch },
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        replicas: k8s.replicas,
        progressDeadlineSeconds: k8s.progressDeadlineSeconds,
        revisionHistoryLimit: 10,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: {
            labels: { ...selector, 'slipway.dev/feature': labels['slipway.dev/feature'] },
            // Prometheus finds the pods by these (the convention its kubernetes_sd examples use).
            annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': 'http', 'prometheus.io/path': '/metrics' },
          },
          spec: {
            containers: [
              {
                name: k8s.container ?? name,
                image,
                ports,
                envFrom: [{ configMapRef: { name: `${name}-config` } }, ...k8s.envFromSecrets.map((secret) => ({ secretRef: { name: secret } }))],
                resources: { requests: { cpu: k8s.resources.cpu, memory: k8s.resources.memory }, limits: { cpu: k8s.resources.cpuLimit, memory: k8s.resources.memoryLimit } },
                readinessProbe: probe('/readyz', 1, 2),
                livenessProbe: probe('/healthz', 10, 10),
              },
            ],
          },
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata,
      spec: { selector, ports: ports.map((p) => ({ name: p.name, port: p.name === 'http' ? 80 : p.containerPort, targetPort: p.name })) },
    } as KubernetesObject,
    {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata,
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        minReplicas: k8s.replicas,
        maxReplicas: Math.max(k8s.replicas, k8s.maxReplicas),
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    } as KubernetesObject,
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata,
      spec: { minAvailable: Math.max(1, k8s.replicas - 1), selector: { matchLabels: selector } },
    } as KubernetesObject,
  ];
}

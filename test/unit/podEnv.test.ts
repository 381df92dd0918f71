import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, containerEnvironment, expand, type EnvSources } from '../../world/podEnv';

const pod: V1Pod = { metadata: { name: 'messages-1', namespace: 'dev', uid: 'u-1', labels: { app: 'messages' } }, spec: { nodeName: 'slipway-world', containers: [] } };
const sources: EnvSources = {
  configMap: async (_ns, name) => (name === 'messages-config' ? { SLIPWAY_ENVIRONMENT: 'dev', LEVEL: 'info' } : undefined),
  secret: async (_ns, name) => (name === 'db' ? { PASSWORD: 's3cret' } : undefined),
};
const context = {
  imageEnv: ['PATH=/usr/local/bin', 'NODE_ENV=production'],
  services: [{ name: 'user-profile', ports: [{ name: 'grpc', port: 41001 }, { port: 41002 }] }],
  ports: { byNumber: { '50051': 40001, '9464': 40002 }, byName: { grpc: 40001, metrics: 40002 } },
  sources,
  hostPath: '/usr/bin:/bin',
};

test('a container gets Service variables, envFrom, env with references, and the port mapping last', async () => {
  const container: V1Container = {
    name: 'messages',
    ports: [{ name: 'grpc', containerPort: 50051 }, { name: 'metrics', containerPort: 9464 }],
    envFrom: [{ configMapRef: { name: 'messages-config' } }, { prefix: 'DB_', secretRef: { name: 'db' } }],
    env: [
      { name: 'LEVEL', value: 'debug' },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'URL', value: 'http://$(USER_PROFILE_SERVICE_HOST):$(USER_PROFILE_SERVICE_PORT_GRPC)/$(MISSING)/$$(LEVEL)' },
      { name: 'PORT', value: '50051' },
    ],
  };
  expect(await containerEnvironment(pod, container, context)).toEqual({
    PATH: '/usr/bin:/bin',
    HOSTNAME: 'messages-1',
    NODE_ENV: 'production',
    USER_PROFILE_SERVICE_HOST: '127.0.0.1',
    USER_PROFILE_SERVICE_PORT: '41001',
    USER_PROFILE_SERVICE_PORT_GRPC: '41001',
    SLIPWAY_ENVIRONMENT: 'dev',
    LEVEL: 'debug',
    DB_PASSWORD: 's3cret',
    POD: 'messages-1',
    APP: 'messages',
    URL: 'http://127.0.0.1:41001/$(MISSING)/$(LEVEL)',
    // The kubelet's mapping wins over the spec: the process must listen where probes look.
    PORT: '40001',
    SLIPWAY_PORT_GRPC: '40001',
    SLIPWAY_PORT_METRICS: '40002',
  });
});

test('a missing ConfigMap or key is a CreateContainerConfigError unless optional', async () => {
  const missing: V1Container = { name: 'c', envFrom: [{ configMapRef: { name: 'absent' } }] };
  await expect(containerEnvironment(pod, missing, context)).rejects.toThrow(new ContainerConfigError('configmap "absent" not found'));
  const optional: V1Container = { name: 'c', envFrom: [{ configMapRef: { name: 'absent', optional: true } }], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'NOPE', optional: true } } }] };
  expect(await containerEnvironment(pod, optional, context)).not.toHaveProperty('X');
  const badKey: V1Container = { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'NOPE' } } }] };
  await expect(containerEnvironment(pod, badKey, context)).rejects.toThrow("couldn't find key NOPE in Secret dev/db");
});

test('$(VAR) expansion follows Kubernetes', () => {
  expect(expand('$(A)-$(B)-$$(A)-$$-$(', { A: 'a' })).toBe('a-$(B)-$(A)-$-$(');
});

import { Client, credentials, Metadata, type ServiceDefinition } from '@grpc/grpc-js';

/** A plain gRPC client for tests: `call('Notify', request)` resolves with the response or rejects with the ServiceError. */
export function testClient(definition: ServiceDefinition, address: string) {
  const client = new Client(address, credentials.createInsecure());
  return {
    call<Res>(method: string, request: object): Promise<Res> {
      const def = definition[method];
      if (def === undefined) throw new Error(`the service has no method ${method}`);
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) =>
          err ? reject(err) : resolve(res as Res),
        ),
      );
    },
    close: () => client.close(),
  };
}

/** The value of one sample in Prometheus text format, e.g. grpc_server_handled_total{…grpc_code="OK"…}; 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

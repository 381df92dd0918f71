import { join } from 'node:path';
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';

/** The build copies proto/ into dist/proto, so the compiled server finds its contracts beside it. */
export const PROTO_DIR = join(__dirname, 'proto');

/** camelCase fields, strings for 64-bit numbers and enums, defaults filled in. */
export const LOADER_OPTIONS: Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

/** The service definition named `fullName` (e.g. "sample.notifications.v1.Notifications") in a proto file of PROTO_DIR. */
export function loadService(file: string, fullName: string): ServiceDefinition {
  const definition = loadSync(join(PROTO_DIR, file), { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  const service = definition[fullName];
  // Message and enum types carry a `format`; services are plain maps of methods.
  if (service === undefined || 'format' in service) throw new Error(`${file} defines no service ${fullName}`);
  return service as ServiceDefinition;
}

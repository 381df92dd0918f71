/** The gRPC methods a .proto change adds, changes or removes, read with protobufjs's parser. Pure. */
import protobuf from 'protobufjs';
import type { GrpcChange } from '../../workflows/report';

/** `package.Service/Method` → `rpc Method(Request) returns (stream Reply)`. */
export function rpcSignatures(text: string, file: string): Map<string, string> {
  let root: protobuf.Root;
  try {
    // Imports are not followed: message types stay the names the file gives them, which is what a signature shows.
    root = protobuf.parse(text, { keepCase: true, alternateCommentMode: true }).root;
  } catch (err) {
    throw new Error(`${file} does not parse as a .proto: ${(err as Error).message}`);
  }
  const signatures = new Map<string, string>();
  const visit = (namespace: protobuf.NamespaceBase) => {
    for (const nested of namespace.nestedArray) {
      if (nested instanceof protobuf.Service) {
        for (const method of nested.methodsArray) {
          const request = `${method.requestStream ? 'stream ' : ''}${method.requestType}`;
          const reply = `${method.responseStream ? 'stream ' : ''}${method.responseType}`;
          signatures.set(`${nested.fullName.replace(/^\./, '')}/${method.name}`, `rpc ${method.name}(${request}) returns (${reply})`);
        }
      } else if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return signatures;
}

/** Methods of `after` that `before` lacks or declares differently, and methods `before` had that are gone. */
export function grpcChanges(before: Map<string, string>, after: Map<string, string>): GrpcChange[] {
  const changes: GrpcChange[] = [];
  const split = (key: string) => {
    const slash = key.lastIndexOf('/');
    return { service: key.slice(0, slash), method: key.slice(slash + 1) };
  };
  for (const [key, signature] of after) {
    const was = before.get(key);
    if (was === undefined) changes.push({ ...split(key), change: 'added', signature });
    else if (was !== signature) changes.push({ ...split(key), change: 'changed', signature, was });
  }
  for (const [key, signature] of before) {
    if (!after.has(key)) changes.push({ ...split(key), change: 'removed', signature });
  }
  return changes;
}

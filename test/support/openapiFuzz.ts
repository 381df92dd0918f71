/**
 * Requests generated from the API's OpenAPI document with fast-check: each operation's path
 * parameters, query and body come from its schemas, then get bent — wrong types, huge and deeply
 * nested bodies, unicode and control characters, missing and duplicated headers, wrong tokens,
 * path tricks in run and gate ids. Used by test/integration/apiFuzz.test.ts.
 */
import fc from 'fast-check';
import { ACTION_APPROVE, ACTION_REJECT, COMMENT_BLOCK, COMMENT_INPUT, REJECT_MODAL } from '../../activities/slack/messages';
import { slackSignature } from '../../api/slackSignature';

/** The part of JSON Schema the route schemas use. */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  default?: unknown;
}

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  schema: JsonSchema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema: JsonSchema }> };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  body?: string;
  /** The operation it was generated from (path template), for reports. */
  operation: string;
}

/** What the generator may reuse so some requests reach deep code: real run ids and tokens. */
export interface FuzzContext {
  runIds: string[];
  gates: string[];
  /** Valid bearer tokens (requester and approver). */
  tokens: string[];
  services: string[];
  idempotencyKeys: string[];
  slack: { signingSecret: string; userIds: string[] };
}

const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));

/** Strings that break naive code: unicode of every plane, lone surrogates, control characters, injection-shaped text. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: controlChar, maxLength: 50 }),
  fc.constantFrom(
    '\ud800',
    '\udfff\ud800',
    '\u0000',
    '\u202e\u0041\u0042',
    '🚀'.repeat(300),
    'é'.repeat(1001),
    "' OR 1=1 --",
    '") OR SlipwayStatus != ("',
    '${jndi:ldap://x}',
    '{{7*7}}',
    '<script>alert(1)</script>',
    '../../../../etc/passwd',
    '%00%2e%2e%2f',
    '\r\nX-Injected: 1',
    'a'.repeat(5000),
    '',
    ' ',
  ),
);

/** Values of the wrong type for any field. */
const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1e308, -0),
);

/** A value that matches the schema (mostly), for requests that get past validation. */
export function schemaValue(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map((s) => schemaValue(s, depth)));
  switch (schema.type) {
    case 'string':
      if (schema.pattern !== undefined) {
        return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? Infinity) && s.length >= (schema.minLength ?? 0));
      }
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 100, 200), unit: 'grapheme' });
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return depth > 3 ? fc.constant([]) : fc.array(schemaValue(schema.items ?? {}, depth + 1), { maxLength: Math.min(schema.maxItems ?? 5, 5) });
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const keys = Object.keys(properties);
      return fc.record(Object.fromEntries(keys.map((k) => [k, schemaValue(properties[k] ?? {}, depth + 1)])), { requiredKeys: keys.filter((k) => required.has(k)) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A schema value, or with some odds a nasty string or a value of the wrong type. */
function bent(schema: JsonSchema): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary: schemaValue(schema) }, { weight: 2, arbitrary: nastyString }, { weight: 2, arbitrary: wrongType });
}

/** An object body: the schema's fields (each possibly bent), sometimes extra fields, sometimes missing ones. */
function objectBody(schema: JsonSchema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const keys = Object.keys(properties);
  const fields = fc.record(
    Object.fromEntries(keys.map((k) => [k, overrides[k] ?? bent(properties[k] ?? {})])),
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 6, arbitrary: fields },
    { weight: 1, arbitrary: fc.tuple(fields, fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })).map(([a, b]) => ({ ...b, ...(a as object) })) },
    { weight: 1, arbitrary: wrongType },
  );
}

/** Bodies no schema describes: raw text that is not JSON, deep nesting, prototype keys, sizes around the limit. */
const rawBody: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 1, max: 200_000 }).map((depth) => `{"feature":${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.integer({ min: 1, max: 50_000 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => '['.repeat(depth)),
  fc.constantFrom(
    '{"__proto__":{"polluted":true},"feature":"Add real-time notifications when users receive new messages"}',
    '{"constructor":{"prototype":{"polluted":true}},"feature":"Add real-time notifications when users receive new messages"}',
    '{"feature":"Add real-time notifications","feature":"x"}',
    '{"comment":"\\ud800"}',
    '{"feature": ',
    'null',
    '[]',
    '""',
    '0',
    '\u0000',
    '\ufeff{"feature":"Add real-time notifications when users receive new messages"}',
    '{"feature":"Add real-time notifications when users receive new messages"}garbage',
  ),
  fc.integer({ min: 900_000, max: 1_300_000 }).map((n) => JSON.stringify({ feature: 'x'.repeat(n) })),
  fc.string({ unit: 'binary', maxLength: 300 }),
);

/** Run and gate ids that try to leave their path segment, or to name something they are not. */
function trickyId(real: string[]): fc.Arbitrary<{ raw: string } | { value: string }> {
  const raws = fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fetc%2fpasswd',
    '%2F',
    'a%2Fb',
    '%00',
    '%',
    '%zz',
    '%c0%ae%c0%ae',
    '%ff%fe',
    'x;y=1',
    '~root',
    '*',
    'feature-x%0d%0aX-Injected:%201',
  );
  return fc.oneof(
    { weight: 4, arbitrary: real.length > 0 ? fc.constantFrom(...real).map((value) => ({ value })) : fc.constant({ value: 'feature-none-0' }) },
    { weight: 2, arbitrary: raws.map((raw) => ({ raw })) },
    { weight: 1, arbitrary: real.length > 0 ? fc.tuple(fc.constantFrom(...real), fc.constantFrom('/', '/..', '%2F..', '.', '%00', '%20', '/../../')).map(([id, tail]) => ({ raw: `${encode(id)}${tail}` })) : fc.constant({ raw: '..' }) },
    { weight: 2, arbitrary: nastyString.map((value) => ({ value })) },
    { weight: 1, arbitrary: fc.integer({ min: 90, max: 3000 }).map((n) => ({ value: 'f'.repeat(n) })) },
  );
}

/** Percent-encodes the UTF-8 bytes (a lone surrogate becomes U+FFFD, as on the wire), unlike encodeURIComponent, which throws. */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

const segment = (id: { raw: string } | { value: string }) => ('raw' in id ? id.raw : encode(id.value));

/** Authorization headers: valid, missing, wrong, malformed, duplicated. */
function authorization(tokens: string[]): fc.Arbitrary<string | string[] | undefined> {
  const valid = fc.constantFrom(...tokens);
  return fc.oneof(
    { weight: 6, arbitrary: valid.map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-') }).map((t) => `Bearer ${t}`) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'bearer', 'Basic YWxpY2U6cGFzcw==', 'Token abc', '', ' ', 'Bearer  \t '),
        valid.map((t) => `bearer ${t}`),
        valid.map((t) => `Bearer ${t} extra`),
        valid.map((t) => `Bearer ${t.slice(0, -1)}`),
        valid.map((t) => `Bearer ${t}${t}`),
        fc.integer({ min: 100, max: 20_000 }).map((n) => `Bearer ${'t'.repeat(n)}`),
      ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.oneof(valid.map((t) => `Bearer ${t}`), fc.constant('Bearer wrong-token-0000000000')), fc.oneof(valid.map((t) => `Bearer ${t}`), fc.constant('Basic x'))).map(([a, b]) => [a, b]) },
  );
}

const contentType: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/JSON',
      'application/json;;;',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '*/*',
      ';',
      'application/json, text/plain',
    ),
  },
  { weight: 1, arbitrary: fc.constant<string[]>(['application/json', 'text/plain']) },
);

/** A query string from the operation's parameters: valid, bent, repeated or unknown. */
function queryString(parameters: Parameter[]): fc.Arbitrary<string> {
  const query = parameters.filter((p) => p.in === 'query');
  if (query.length === 0) return fc.oneof(fc.constant(''), fc.constant('?x=1'), fc.constant('?%zz=1'));
  const one = (p: Parameter) =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant<string[]>([]) },
      { weight: 5, arbitrary: schemaValue(p.schema).map((v) => [`${encode(p.name)}=${encode(String(v))}`]) },
      { weight: 2, arbitrary: fc.oneof(nastyString, wrongType.map((v) => JSON.stringify(v) ?? 'undefined')).map((v) => [`${p.name}=${encode(v)}`]) },
      { weight: 1, arbitrary: fc.tuple(schemaValue(p.schema), schemaValue(p.schema)).map(([a, b]) => [`${p.name}=${encode(String(a))}`, `${p.name}=${encode(String(b))}`]) },
      { weight: 1, arbitrary: fc.constantFrom([`${p.name}`], [`${p.name}=`], [`${p.name}[]=1`], [`${p.name}=%`], [`${p.name}[a]=1`]) },
    );
  return fc.tuple(...query.map(one), fc.boolean()).map((parts) => {
    const extra = parts.pop() as boolean;
    const pairs = (parts as string[][]).flat();
    if (extra) pairs.push('unknown=1');
    return pairs.length > 0 ? `?${pairs.join('&')}` : '';
  });
}

/** A signed (or badly signed) Slack interaction with a payload of Slack's shape, or not. */
function slackRequest(context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const buttonValue = fc.oneof(
    fc.record({ runId: context.runIds.length > 0 ? fc.constantFrom(...context.runIds) : fc.constant('feature-none-0'), gate: fc.constantFrom(...context.gates), round: fc.oneof(fc.constant(1), fc.integer()) }).map((v) => JSON.stringify(v)),
    nastyString,
  );
  const user = fc.record({ id: fc.oneof(fc.constantFrom(...context.slack.userIds), nastyString) });
  const payload = fc.oneof(
    fc.record({
      type: fc.constant('block_actions'),
      user,
      response_url: fc.constantFrom(undefined, 'http://127.0.0.1:9/respond', 'not a url'),
      actions: fc.array(fc.record({ action_id: fc.constantFrom(ACTION_APPROVE, ACTION_REJECT, 'other', ''), value: buttonValue }), { maxLength: 2 }),
    }),
    fc.record({
      type: fc.constant('view_submission'),
      user,
      view: fc.record({ callback_id: fc.constantFrom(REJECT_MODAL, 'other'), private_metadata: buttonValue, state: fc.record({ values: fc.oneof(fc.constant({}), fc.oneof(nastyString, fc.constant(null)).map((value) => ({ [COMMENT_BLOCK]: { [COMMENT_INPUT]: { value } } })), fc.dictionary(fc.string({ maxLength: 10 }), fc.dictionary(fc.string({ maxLength: 10 }), fc.record({ value: fc.oneof(nastyString, fc.constant(null)) })))) }) }),
    }),
    fc.jsonValue({ maxDepth: 4 }),
  );
  const body = fc.oneof(
    { weight: 4, arbitrary: payload.map((p) => `payload=${encode(JSON.stringify(p) ?? '')}`) },
    { weight: 1, arbitrary: fc.oneof(rawBody, nastyString) },
  );
  return fc
    .record({
      body,
      signing: fc.constantFrom('valid', 'valid', 'valid', 'wrong', 'missing', 'old', 'malformed-timestamp'),
      type: fc.oneof({ weight: 5, arbitrary: fc.constant<string | undefined>('application/x-www-form-urlencoded') }, { weight: 1, arbitrary: fc.constantFrom(undefined, 'application/json', 'text/plain') }),
    })
    .map(({ body, signing, type }) => {
      const now = Math.floor(Date.now() / 1000);
      const timestamp = signing === 'old' ? String(now - 3600) : signing === 'malformed-timestamp' ? 'soon' : String(now);
      const headers: Record<string, string> = {};
      if (type !== undefined) headers['content-type'] = type;
      if (signing !== 'missing') {
        headers['x-slack-request-timestamp'] = timestamp;
        headers['x-slack-signature'] = signing === 'wrong' ? `v0=${'0'.repeat(64)}` : slackSignature(context.slack.signingSecret, timestamp, body);
      }
      return shortly({ method: 'POST', url: '/slack/interactions', headers, body, operation: 'POST /slack/interactions' });
    });
}

/** Every operation of the document (and the hidden public routes), as fuzzed requests. */
export function fuzzRequests(doc: OpenApiDocument, context: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const operations: fc.Arbitrary<FuzzRequest>[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (template === '/slack/interactions') continue;
      const parameters = operation.parameters ?? [];
      const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
      const path = fc
        .record({ id: trickyId(context.runIds), gate: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...context.gates).map((value) => ({ value })) }, { weight: 1, arbitrary: trickyId([]) }) })
        .map(({ id, gate }) => template.replace('{id}', segment(id)).replace('{gate}', segment(gate)));
      const overrides: Record<string, fc.Arbitrary<unknown>> =
        template === '/runs'
          ? {
              feature: fc.oneof(
                { weight: 3, arbitrary: fc.constantFrom('Add real-time notifications when users receive new messages', 'Let users mute a conversation for a day') },
                { weight: 2, arbitrary: bent({ type: 'string', maxLength: 1000 }) },
              ),
              services: fc.oneof(fc.subarray(context.services), bent({ type: 'array', items: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' } })),
              idempotencyKey: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...context.idempotencyKeys) }, { weight: 1, arbitrary: bent({ type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }) }),
            }
          : {};
      const body: fc.Arbitrary<string | undefined> =
        method === 'get'
          ? fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant('{"unexpected":"body"}') })
          : fc.oneof(
              { weight: 6, arbitrary: objectBody(bodySchema ?? {}, overrides).map((v) => JSON.stringify(v) ?? 'null') },
              { weight: 2, arbitrary: rawBody },
              { weight: 1, arbitrary: fc.constant(undefined) },
            );
      operations.push(
        fc
          .record({ path, query: queryString(parameters), auth: authorization(context.tokens), type: contentType, body })
          .map(({ path, query, auth, type, body }) => {
            const headers: Record<string, string | string[]> = {};
            if (auth !== undefined) headers.authorization = auth;
            if (body !== undefined && type !== undefined) headers['content-type'] = type;
            return shortly({ method: method.toUpperCase(), url: `${path}${query}`, headers, ...(body !== undefined ? { body } : {}), operation: `${method.toUpperCase()} ${template}` });
          }),
      );
    }
  }
  const hidden = fc
    .record({ path: fc.constantFrom('/metrics', '/openapi.json', '/healthz', '//runs', '/runs/', '/RUNS', '/runs/%2e%2e/runs', '/runs?'), method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), auth: authorization(context.tokens) })
    .map(({ path, method, auth }) => shortly({ method, url: path, headers: auth !== undefined ? { authorization: auth } : {}, operation: `${method} ${path}` }));
  return fc.oneof(...operations, slackRequest(context), hidden);
}

/** fast-check prints counterexamples with this: a megabyte body stays out of the report. */
function shortly(request: FuzzRequest): FuzzRequest {
  return Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) });
}

/** A short description for reports: bodies can be a megabyte. */
export function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : ` body(${request.body.length})=${JSON.stringify(request.body.slice(0, 160))}`;
  return `${request.method} ${request.url.slice(0, 200)} headers=${JSON.stringify(request.headers).slice(0, 200)}${body}`;
}

/**
 * `npm run docs`: writes docs/configuration.md from the config schema (z.toJSONSchema, with each
 * field's `/** ... *\/` comment from the schema's source as its description) and docs/api.md from
 * the OpenAPI document the API generates from its route schemas. test/unit/docs.test.ts fails when
 * the committed files differ from what this produces, so the docs cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import ts from 'typescript';
import { z } from 'zod';
import { TokenBook } from '../api/auth';
import { buildServer } from '../api/server';
import { parseConfig } from '../config/load';
import { slipwayConfigSchema } from '../config/schema';
import { temporalSchema } from '../config/schema';

const root = resolve(__dirname, '..');
export const DOCS = { configuration: join(root, 'docs/configuration.md'), api: join(root, 'docs/api.md') };

// ---------------------------------------------------------------------------------------------
// Field comments, read from the zod schemas' source.

/** What one schema expression declares: its fields' comments, its items, or another schema it names. */
interface SchemaNode {
  comment?: string;
  fields: Map<string, SchemaNode>;
  items?: SchemaNode;
  ref?: string;
}

const emptyNode = (): SchemaNode => ({ fields: new Map() });

function jsDocOf(node: ts.Node): string | undefined {
  const docs = (node as { jsDoc?: ts.JSDoc[] }).jsDoc;
  const text = docs?.map((d) => (typeof d.comment === 'string' ? d.comment : '')).join(' ').trim();
  return text ? text.replace(/\s+/g, ' ') : undefined;
}

/** Follows a zod expression (z.object({...}).prefault(...), z.array(x).min(1), someSchema.optional()) to what it declares. */
function describeExpression(expr: ts.Expression): SchemaNode {
  if (ts.isIdentifier(expr)) return { ...emptyNode(), ref: expr.text };
  if (ts.isCallExpression(expr) && ts.isPropertyAccessExpression(expr.expression)) {
    const callee = expr.expression;
    if (ts.isIdentifier(callee.expression) && callee.expression.text === 'z') {
      const arg = expr.arguments[0];
      if (callee.name.text === 'object' && arg !== undefined && ts.isObjectLiteralExpression(arg)) return objectNode(arg);
      if (callee.name.text === 'array' && arg !== undefined) return { ...emptyNode(), items: describeExpression(arg) };
      return emptyNode();
    }
    return describeExpression(callee.expression);
  }
  return emptyNode();
}

function objectNode(literal: ts.ObjectLiteralExpression): SchemaNode {
  const node = emptyNode();
  for (const property of literal.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const name = property.name.getText().replace(/^['"]|['"]$/g, '');
    const child = describeExpression(property.initializer);
    const comment = jsDocOf(property);
    node.fields.set(name, comment !== undefined ? { ...child, comment } : child);
  }
  return node;
}

/** Every top-level `const x = <zod expression>` of the files, by name. */
function schemaDeclarations(files: string[]): Map<string, SchemaNode> {
  const declarations = new Map<string, SchemaNode>();
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    for (const statement of source.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name) && declaration.initializer !== undefined) {
          declarations.set(declaration.name.text, describeExpression(declaration.initializer));
        }
      }
    }
  }
  return declarations;
}

function resolveNode(node: SchemaNode | undefined, declarations: Map<string, SchemaNode>): SchemaNode | undefined {
  let current = node;
  const seen = new Set<string>();
  while (current?.ref !== undefined && !seen.has(current.ref)) {
    seen.add(current.ref);
    const target = declarations.get(current.ref);
    if (target === undefined) break;
    current = { ...target, ...(current.comment !== undefined ? { comment: current.comment } : {}) };
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// docs/configuration.md

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default?: unknown;
  rules: string[];
  description?: string;
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeOf).join(' | ');
  if (schema.type === 'array') return `${schema.items ? typeOf(schema.items) : 'any'}[]`;
  if (schema.type === 'object' && schema.properties === undefined && typeof schema.additionalProperties === 'object') return `map of ${typeOf(schema.additionalProperties)}`;
  if (schema.format === 'uri') return 'URL';
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
}

const ENV_NAME_PATTERN = '^[A-Z_][A-Z0-9_]*$';

function rulesOf(schema: JsonSchema): string[] {
  const rules: string[] = [];
  const inner = schema.type === 'object' && typeof schema.additionalProperties === 'object' ? schema.additionalProperties : schema;
  if (inner.pattern === ENV_NAME_PATTERN) rules.push('name of an environment variable');
  else if (inner.pattern !== undefined) rules.push(`matches \`${inner.pattern}\``);
  if (inner.minLength !== undefined && inner.minLength > 1) rules.push(`at least ${inner.minLength} characters`);
  if (inner.minimum !== undefined) rules.push(`≥ ${inner.minimum}`);
  // zod's .int() adds the largest safe integer as a maximum: no rule a person needs to read.
  if (inner.maximum !== undefined && inner.maximum < Number.MAX_SAFE_INTEGER) rules.push(`≤ ${inner.maximum}`);
  if (schema.minItems !== undefined) rules.push(`at least ${schema.minItems}`);
  return rules;
}

function collectRows(schema: JsonSchema, node: SchemaNode | undefined, path: string, required: boolean, declarations: Map<string, SchemaNode>, rows: Row[]): void {
  const resolved = resolveNode(node, declarations);
  const hasFields = schema.type === 'object' && schema.properties !== undefined;
  const objectItems = schema.type === 'array' && schema.items?.type === 'object' && schema.items.properties !== undefined;
  rows.push({
    path,
    type: hasFields ? 'object' : objectItems ? 'object[]' : typeOf(schema),
    required,
    ...(schema.default !== undefined && !(typeof schema.default === 'object' && schema.default !== null && Object.keys(schema.default).length > 0 && hasFields) ? { default: schema.default } : {}),
    rules: rulesOf(schema),
    ...(resolved?.comment !== undefined ? { description: resolved.comment } : {}),
  });
  if (hasFields) {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      collectRows(child, resolved?.fields.get(name), `${path}.${name}`, (schema.required ?? []).includes(name), declarations, rows);
    }
  } else if (objectItems && schema.items !== undefined) {
    const items = resolveNode(resolved?.items, declarations);
    for (const [name, child] of Object.entries(schema.items.properties ?? {})) {
      collectRows(child, items?.fields.get(name), `${path}[].${name}`, (schema.items.required ?? []).includes(name), declarations, rows);
    }
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const shown = (value: unknown) => (typeof value === 'string' ? `\`${value}\`` : `\`${JSON.stringify(value)}\``);

export function configurationMarkdown(): string {
  const declarations = schemaDeclarations([join(root, 'config/schema.ts'), join(root, 'config/temporal.ts')]);
  const json = z.toJSONSchema(slipwayConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  // main.ts reads the temporal section with config/temporal.ts (TLS, API key), which the lead merges into the schema.
  const properties = { ...json.properties, temporal: z.toJSONSchema(temporalSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema };
  const top = resolveNode({ ...emptyNode(), ref: 'slipwayConfigSchema' }, declarations);
  if (top !== undefined) top.fields.set('temporal', { ...emptyNode(), ref: 'temporalSchema' });
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated by `npm run docs` from config/schema.ts and config/temporal.ts; do not edit by hand. -->',
    '',
    '`slipway.config.yaml` (or the file `SLIPWAY_CONFIG` names) describes the system Slipway changes and how runs are governed.',
    'It is validated at start-up; a bad file stops the process with the path of each bad field. Secrets never appear in it:',
    'fields ending in `Env` hold the **name** of an environment variable, and the schema refuses anything that does not look like one.',
    'Durations are written like `30s`, `15m`, `72h`. A start is [`slipway.config.example.yaml`](../slipway.config.example.yaml).',
    '',
    '## Sections',
    '',
    ...Object.keys(properties).map((name) => `- [\`${name}\`](#${name})${(json.required ?? []).includes(name) ? ' (required)' : ''}`),
    '',
  ];
  for (const [name, schema] of Object.entries(properties)) {
    const rows: Row[] = [];
    collectRows(schema, top?.fields.get(name), name, (json.required ?? []).includes(name), declarations, rows);
    const [section, ...fields] = rows;
    lines.push(`## ${name}`, '');
    if (section?.description !== undefined) lines.push(section.description, '');
    lines.push(`${section?.required ? 'Required' : 'Optional'}; ${section?.type}.`, '');
    if (fields.length === 0) continue;
    lines.push('| field | type | default | description |', '|---|---|---|---|');
    for (const row of fields) {
      const description = [row.description, row.required ? '**Required.**' : undefined, row.rules.length > 0 ? `(${row.rules.join('; ')})` : undefined].filter(Boolean).join(' ');
      lines.push(`| \`${row.path}\` | ${cell(row.type)} | ${row.default !== undefined ? cell(shown(row.default)) : ''} | ${cell(description)} |`);
    }
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---------------------------------------------------------------------------------------------
// docs/api.md

interface OpenApiSchema {
  type?: string | string[];
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  items?: OpenApiSchema;
  enum?: unknown[];
  anyOf?: OpenApiSchema[];
  description?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}
interface Operation {
  summary?: string;
  parameters?: { in: string; name: string; required?: boolean; schema?: OpenApiSchema; description?: string }[];
  requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> };
  responses?: Record<string, { description?: string }>;
  security?: unknown[];
}

function apiType(schema: OpenApiSchema | undefined): string {
  if (schema === undefined) return 'any';
  if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.anyOf !== undefined) return schema.anyOf.map(apiType).join(' | ');
  if (schema.type === 'array') return `${apiType(schema.items)}[]`;
  return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'object');
}

function limits(schema: OpenApiSchema | undefined): string {
  if (schema === undefined) return '';
  const parts = [
    schema.minLength !== undefined ? `≥ ${schema.minLength} chars` : '',
    schema.maxLength !== undefined ? `≤ ${schema.maxLength} chars` : '',
    schema.pattern !== undefined ? `\`${schema.pattern}\`` : '',
  ].filter(Boolean);
  return parts.join(', ');
}

export async function apiMarkdown(): Promise<string> {
  const config = parseConfig({ repository: { path: '.' }, services: [{ name: 'messages', path: 'services/messages' }], environments: [{ name: 'production' }] });
  // Building the server contacts nothing: the client is lazy and never used.
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const app = await buildServer({ client, config, tokens: TokenBook.parse('docs:requester:documentation-only-token') });
  await app.ready();
  const doc = app.swagger() as { info: { title: string; version: string; description?: string }; paths: Record<string, Record<string, Operation>>; security?: unknown[] };
  await app.close();
  const lines = [
    '# HTTP API',
    '',
    '<!-- Generated by `npm run docs` from the OpenAPI document the API builds from its route schemas; do not edit by hand. -->',
    '',
    `${doc.info.title} ${doc.info.version}: ${doc.info.description ?? ''}`,
    '',
    'Every route needs `Authorization: Bearer <token>` (tokens from `SLIPWAY_API_TOKENS`, see [operations.md](operations.md)) except',
    '`/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/slack/interactions` (Slack signs its requests instead; see [slack-app.md](slack-app.md)).',
    'Errors are `{statusCode, error, message}`. The machine-readable document is served at `GET /openapi.json`.',
    '',
  ];
  const methods = ['get', 'post', 'put', 'patch', 'delete'];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const method of methods) {
      const op = operations[method];
      if (op === undefined) continue;
      lines.push(`## ${method.toUpperCase()} ${path}`, '');
      if (op.summary) lines.push(op.summary, '');
      const params = op.parameters ?? [];
      if (params.length > 0) {
        lines.push('| parameter | in | type | required |', '|---|---|---|---|');
        for (const p of params) lines.push(`| \`${p.name}\` | ${p.in} | ${cell(apiType(p.schema))}${limits(p.schema) ? ` (${cell(limits(p.schema))})` : ''} | ${p.required ? 'yes' : 'no'} |`);
        lines.push('');
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body?.properties !== undefined) {
        lines.push('Request body (JSON):', '', '| field | type | required |', '|---|---|---|');
        for (const [name, schema] of Object.entries(body.properties)) {
          lines.push(`| \`${name}\` | ${cell(apiType(schema))}${limits(schema) ? ` (${cell(limits(schema))})` : ''} | ${(body.required ?? []).includes(name) ? 'yes' : 'no'} |`);
        }
        lines.push('');
      }
      const responses = Object.entries(op.responses ?? {});
      if (responses.length > 0) lines.push(`Responses: ${responses.map(([code, r]) => `**${code}**${r.description && r.description !== 'Default Response' ? ` ${r.description}` : ''}`).join(', ')}.`, '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

async function main(): Promise<void> {
  await writeFile(DOCS.configuration, configurationMarkdown());
  await writeFile(DOCS.api, await apiMarkdown());
  console.log(`slipway: wrote ${DOCS.configuration} and ${DOCS.api}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`slipway: generating the docs failed: ${err.message}`);
    process.exit(1);
  });
}

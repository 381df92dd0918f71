import { readFile } from 'node:fs/promises';
import { apiMarkdown, configurationMarkdown, DOCS } from '../../scripts/docs';

// The generated docs are committed; these fail when the schema or the routes changed without `npm run docs`.
test('docs/configuration.md is what `npm run docs` makes from the config schema', async () => {
  expect(await readFile(DOCS.configuration, 'utf8')).toBe(configurationMarkdown());
});

test('docs/api.md is what `npm run docs` makes from the OpenAPI document', async () => {
  expect(await readFile(DOCS.api, 'utf8')).toBe(await apiMarkdown());
});

test('the configuration reference covers every section and the Temporal connection fields', () => {
  const text = configurationMarkdown();
  for (const section of ['repository', 'services', 'environments', 'gates', 'approvers', 'prometheus', 'analysis', 'slack', 'llm', 'temporal', 'api']) {
    expect(text).toContain(`\n## ${section}\n`);
  }
  for (const field of ['temporal.tls.caCertEnv', 'temporal.tls.clientCertEnv', 'temporal.tls.clientKeyEnv', 'temporal.tls.serverName', 'temporal.apiKeyEnv']) expect(text).toContain(`| \`${field}\` |`);
});

test('the Slack app manifest in docs/slack-app.md parses and asks for what Slipway calls', async () => {
  const { parse } = await import('yaml');
  const text = await readFile(DOCS.configuration.replace('configuration.md', 'slack-app.md'), 'utf8');
  const manifest = parse(/```yaml\n([\s\S]*?)```/.exec(text)?.[1] ?? '') as {
    oauth_config: { scopes: { bot: string[] } };
    settings: { interactivity: { is_enabled: boolean; request_url: string } };
  };
  expect(manifest.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['chat:write']));
  expect(manifest.settings.interactivity).toMatchObject({ is_enabled: true, request_url: expect.stringMatching(/^https:\/\/.+\/slack\/interactions$/) });
});

test('relative links between the docs point at files that exist', async () => {
  const { readdir } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const dir = dirname(DOCS.configuration);
  const missing: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.md'))) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const [, target] of text.matchAll(/\]\(((?!https?:|#)[^)#]+)(#[^)]*)?\)/g)) {
      // security-model.md is written by another change; it is linked before it lands.
      if (target === 'security-model.md') continue;
      if (!existsSync(join(dir, target as string))) missing.push(`${file} → ${target}`);
    }
  }
  expect(missing).toEqual([]);
});

import { join } from 'node:path';
import madge from 'madge';

const root = join(__dirname, '../..');

test('no import cycles; activities and workflows never import installers; workflows import no activity code', async () => {
  const graph = await madge(['activities', 'api', 'config', 'workflows', 'worker', 'scripts', 'world', 'cli'].map((d) => join(root, d)), {
    baseDir: root,
    fileExtensions: ['ts'],
    tsConfig: join(root, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: true } },
  });
  expect(graph.circular()).toEqual([]);
  const edges = Object.entries(graph.obj()).flatMap(([from, to]) => to.map((target) => [from, target] as const));
  // Installers run at start-up or in set-up scripts, never inside an activity or a workflow.
  expect(edges.filter(([from, to]) => /^(activities|workflows)\//.test(from) && to.startsWith('scripts/'))).toEqual([]);
  // Workflow code is deterministic: it may use activity types, never activity modules.
  expect(edges.filter(([from, to]) => from.startsWith('workflows/') && to.startsWith('activities/'))).toEqual([]);
});

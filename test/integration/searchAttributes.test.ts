import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalCli, freePort, startDevServer } from '../../scripts/temporal';
import { registerSearchAttributes } from '../../worker/searchAttributes';

test('the worker registers missing search attributes on a server that lacks them, once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-sa-'));
  const server = await startDevServer({ binary: await ensureTemporalCli(), port: await freePort(), logFile: join(dir, 'temporal.log'), searchAttributes: false });
  const connection = await Connection.connect({ address: server.address });
  try {
    const before = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(before.customAttributes)).not.toContain('SlipwayPhase');

    expect((await registerSearchAttributes(connection, 'default')).sort()).toEqual(['SlipwayFeature', 'SlipwayPhase', 'SlipwayServices', 'SlipwayStatus']);
    const after = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(after.customAttributes)).toEqual(expect.arrayContaining(['SlipwayFeature', 'SlipwayPhase', 'SlipwayServices', 'SlipwayStatus']));

    expect(await registerSearchAttributes(connection, 'default')).toEqual([]);
  } finally {
    await connection.close();
    await server.stop();
  }
});

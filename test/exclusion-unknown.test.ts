import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadRegistry, type HookService } from '../src/cds-hooks/registry.js';
import { orderSign } from '../src/cds-hooks/order-sign.js';
import { configFrom } from '../src/server/config.js';
import { policyScenarios, runScenario, TEST_HOOKS_DIR } from './support/scenarios.js';

/**
 * An exclusion the record can neither confirm nor rule out keeps an order that meets its criteria from being
 * covered: the order is asked about, the open exclusion named. The test-only lumbar MRI policy, with its exclusion
 * made undecidable (its not-met expression never matches), shows the engine's rule; the shipped policy has no such
 * path today, so only the engine guards it.
 */
const dir = mkdtempSync(join(tmpdir(), 'exclusion-unknown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lumbarService(edit: (criteria: string) => string): HookService {
  const hooks = join(dir, String(Math.random()).slice(2));
  cpSync(TEST_HOOKS_DIR, hooks, { recursive: true });
  const criteria = join(hooks, 'lumbar-mri', 'criteria.yaml');
  const before = readFileSync(criteria, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error('the edit changed nothing: the test policy moved');
  writeFileSync(criteria, after);
  const loaded = loadRegistry(hooks);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const service = loaded.registry.services.find((s) => s.folder.endsWith('lumbar-mri'));
  if (!service) throw new Error('lumbar-mri not loaded');
  return service;
}

const baseline = policyScenarios(join(TEST_HOOKS_DIR, 'lumbar-mri')).find((s) => s.name === 'baseline-covered');

describe('an undecided exclusion', () => {
  test('the unedited policy covers the baseline order (the control)', async () => {
    const [d] = await runScenario(
      lumbarService((t) => `${t}\n`),
      baseline!.fixture,
    );
    expect(d?.outcome).toBe('covered');
  });

  test('keeps an order that meets its criteria from being covered, and is what the card asks', async () => {
    const service = lumbarService((t) =>
      t.replace(`notMet: "%order.code.where(inValueSet('mr-spectroscopy').not())"`, 'notMet: "{}"'),
    );
    const [d] = await runScenario(service, baseline!.fixture);
    expect(d?.exclusions.find((e) => e.id === 'EX.I')?.state).toBe('unknown');
    expect(d?.metSections).toEqual(['I']);
    expect(d?.outcome).toBe('documentation-needed');
    expect(d?.toDocument.map((n) => n.id)).toContain('EX.I');
    const fixture = baseline!.fixture;
    const now = () => new Date(`${fixture.evaluationDate}T12:00:00Z`);
    const answer = await orderSign(service, structuredClone(fixture.request), { settings: configFrom(), fetch, now });
    if (!answer.ok) throw new Error(`HTTP ${answer.failure.status}`);
    const card = JSON.stringify(answer.response.cards);
    expect(card).toContain('Magnetic resonance spectroscopy');
    expect(card).not.toMatch(/covered/i);
  });
});

import { basename } from 'node:path';
import { describe, expect, test } from 'vitest';
import { differential, expressionsOf } from './support/closure-differential.js';
import { policyScenarios, runScenario, scenarioServices } from './support/scenarios.js';

/**
 * The closure compiler (src/rules/fhirpath-closures.ts) against fhirpath.js: every compiled expression, on every
 * evaluation every scenario makes (its definitions, per-section definitions and leaves), must give exactly what
 * fhirpath.js gives, or decline. Generated records: test/fhirpath-closures-fuzz.test.ts; single cases:
 * test/fhirpath-closures-vectors.test.ts.
 */

const policies = scenarioServices().map((service) => {
  const diff = differential(service.policy);
  return { name: basename(service.folder), service, diff, scenarios: policyScenarios(service.folder) };
});

describe.each(policies)('$name', ({ service, diff, scenarios }) => {
  test('most of its expressions are compiled to closures', () => {
    const all = expressionsOf(service.policy);
    const compiled = all.filter((e) => e.closure !== undefined);
    expect(compiled.length / all.length).toBeGreaterThan(0.75);
  });

  test.each(scenarios.map((s) => [`${s.file}/${s.name}`, s] as const))(
    '%s: closures and fhirpath.js agree',
    async (_name, scenario) => {
      const divergences = diff.divergences.length;
      const errors = diff.closureErrors.length;
      await runScenario(service, scenario.fixture);
      expect(diff.divergences.slice(divergences)).toEqual([]);
      expect(diff.closureErrors.slice(errors)).toEqual([]);
    },
  );

  test('every compiled expression the scenarios evaluate is compared on some of them, not only declined', () => {
    const evaluated = new Set([...diff.compared.keys(), ...diff.declined.keys()]);
    expect(evaluated.size).toBeGreaterThan(0);
    const neverCompared = [...evaluated].filter((source) => !diff.compared.has(source));
    expect(neverCompared).toEqual([]);
  });
});

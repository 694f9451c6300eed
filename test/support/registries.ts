import { loadRegistry, type Registry } from '../../src/cds-hooks/registry.js';

/**
 * The registry of a hooks folder, loaded and compiled once per test worker: test files share the worker's module
 * cache (vitest.config.ts `isolate: false`), so every app and scenario test of every file reuses it, as the
 * service reuses its one registry for every request. Tests that load an edited or broken policy call
 * loadRegistry themselves.
 */
const registries = new Map<string, Registry>();

export function loadedRegistry(hooksDir: string): Registry {
  let registry = registries.get(hooksDir);
  if (!registry) {
    const result = loadRegistry(hooksDir);
    if (!result.ok) throw new Error(result.errors.join('\n'));
    registry = result.registry;
    registries.set(hooksDir, registry);
  }
  return registry;
}

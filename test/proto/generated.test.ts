import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { WIRE_TYPES_PATH, generateWireTypes } from '../../scripts/gen-wire-types.ts';

describe('proto/generated/wire.d.ts', () => {
  // A .proto change without `make proto` would leave the typed services checking an old contract.
  it('is exactly what `make proto` generates from proto/*.proto', async () => {
    const committed = await readFile(WIRE_TYPES_PATH, 'utf8');
    const fresh = await generateWireTypes();
    expect(fresh.length).toBeGreaterThan(1000);
    expect(fresh === committed, 'proto/generated/wire.d.ts is stale: run `make proto` and commit the result').toBe(true);
  }, 60_000);
});

// Test helper: checks coordinator envelopes against proto/coordinator.schema.json (the published
// contract reviewers and other implementations read) with ajv, so the schema cannot drift from what
// the enclave's client and the reference coordinator really send.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const SCHEMA_URL = new URL('../../../proto/coordinator.schema.json', import.meta.url);
export const COORDINATOR_SCHEMA = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as { $id: string; requests: Record<'c2s' | 's2c', Record<string, unknown>> };

// strict: false because the document also carries non-schema sections ("requests", "pairingToken")
// that are looked up by pointer below rather than validated as keywords.
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(COORDINATOR_SCHEMA);

/** The validator of a part of the schema, by JSON pointer (e.g. '/$defs/Envelope'). */
export function validatorAt(pointer: string): ValidateFunction {
  const ref = `${COORDINATOR_SCHEMA.$id}#${pointer}`;
  const v = ajv.getSchema(ref);
  if (!v) throw new Error(`no schema at ${pointer}`);
  return v;
}

/** Schema errors of one value, as readable strings ([] = valid). */
export function schemaErrors(pointer: string, value: unknown): string[] {
  const v = validatorAt(pointer);
  return v(value) ? [] : (v.errors ?? []).map((e) => `${pointer}${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

interface Seen {
  dir: 'c2s' | 's2c';
  type: string;
  id: string;
  body: string;
}

/**
 * Collects envelopes as they are framed and checks each one: the envelope itself, then its body as
 * hello / welcome / the request of its type and direction / a reply (whose result is checked against
 * the schema of the request it answers).
 */
export class EnvelopeRecorder {
  readonly seen: Seen[] = [];
  private readonly raw: unknown[] = [];

  record(value: unknown): void {
    const e = value as Partial<Seen> | null;
    if (e && typeof e === 'object' && (e.dir === 'c2s' || e.dir === 's2c') && typeof e.type === 'string' && typeof e.id === 'string' && typeof e.body === 'string') {
      this.seen.push({ dir: e.dir, type: e.type, id: e.id, body: e.body });
    }
    this.raw.push(value);
  }

  /** Every schema violation among the envelopes recorded so far. */
  errors(): string[] {
    const out: string[] = [];
    for (const env of this.raw) out.push(...schemaErrors('/$defs/Envelope', env));
    const asked = new Map<string, string>();
    for (const e of this.seen) {
      const body: unknown = JSON.parse(e.body);
      const where = `${e.dir} ${e.type} ${e.id}`;
      const add = (errs: string[]): void => void out.push(...errs.map((x) => `${where}: ${x}`));
      if (e.type === 'hello') add(schemaErrors('/$defs/Hello', body));
      else if (e.type === 'welcome') add(schemaErrors('/$defs/Welcome', body));
      else if (e.type === 'reply') {
        add(schemaErrors('/$defs/Reply', body));
        const reqDir = e.dir === 'c2s' ? 's2c' : 'c2s';
        const type = asked.get(`${reqDir}:${e.id}`);
        if (!type) add([`reply to an unknown request`]);
        else if ((body as { ok?: unknown }).ok === true) add(schemaErrors(`/requests/${reqDir}/${type}/result`, (body as { result?: unknown }).result));
      } else if (!(e.type in COORDINATOR_SCHEMA.requests[e.dir])) add([`request type not in the schema`]);
      else {
        asked.set(`${e.dir}:${e.id}`, e.type);
        add(schemaErrors(`/requests/${e.dir}/${e.type}/body`, body));
      }
    }
    return out;
  }

  /** `dir type` of every message seen (replies as `dir reply:type`). */
  kinds(): Set<string> {
    const asked = new Map<string, string>();
    const out = new Set<string>();
    for (const e of this.seen) {
      if (e.type === 'reply') out.add(`${e.dir} reply:${asked.get(`${e.dir === 'c2s' ? 's2c' : 'c2s'}:${e.id}`) ?? '?'}`);
      else {
        asked.set(`${e.dir}:${e.id}`, e.type);
        out.add(`${e.dir} ${e.type}`);
      }
    }
    return out;
  }
}

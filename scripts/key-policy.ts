// Operator tooling: the KMS key policy for an enclave image's measurements (parent/cli/key-policy.ts).
//   tsx scripts/key-policy.ts MEASUREMENTS.json --instance-role ARN --admin ARN [--pcr8 HEX] [--also FILE] [--out FILE]
import { fileURLToPath } from 'node:url';
import type { CosignerError } from '../proto/errors.ts';
import { keyPolicyCli } from '../parent/cli/key-policy.ts';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  keyPolicyCli(process.argv.slice(2)).then(
    (text) => {
      if (!process.argv.includes('--out')) process.stdout.write(text);
    },
    (err: unknown) => {
      const e = err as CosignerError;
      process.stderr.write(`key-policy: ${e.code ?? 'ERR_INTERNAL'}: ${e.message}\n`);
      process.exit(2);
    },
  );
}

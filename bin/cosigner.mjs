#!/usr/bin/env node
// The operator CLI `cosigner`. Registers tsx so the TypeScript sources run as they are.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../parent/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

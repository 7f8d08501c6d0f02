// Runs in the enclave and in the reference coordinator. The OT layer DKLs23 uses (ot-api.ts):
// VSOT base OTs (base-ot.ts) run pairwise in both directions (pairwise.ts), KOS15 OT extension
// (extension.ts) and the DKLs19 multiplication as random vector OLE (rvole.ts). docs/ecdsa.md
// describes the construction, its checks and its sizes.
import type { OtLayer } from '../ot-api.ts';
import { pairwiseSetup } from './pairwise.ts';
import { rvoleReceive, rvoleSend } from './rvole.ts';

export const otLayer: OtLayer = { pairwiseSetup, rvoleReceive, rvoleSend };

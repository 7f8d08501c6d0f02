// Runs on the parent: the egress relay and its allow-list.
export { loadAllowList, parseAllowList, normaliseHost, type AllowList, type AllowEntry } from './allow-list.ts';
export { createRelay, type Relay, type RelayOptions } from './relay.ts';

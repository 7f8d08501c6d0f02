// `make demo`: the whole system end to end on the embedded local default (local/demo.ts).
import { main } from '../local/demo.ts';

void main();

// Import rules that keep the trust layout honest (see docs and DESIGN.md, "trust roles"):
//   enclave/  runs in the enclave: it may use proto/ (the shared contract) and nothing on the parent side.
//   parent/   runs on the untrusted parent: it may use proto/, never enclave/ internals.
//   proto/    is shared by both sides and by reviewers' tools, so it depends on neither side.
//   local/    the local-mode stand-ins may use proto/, parent/ and enclave/ (the reference coordinator
//             runs the coordinator's own FROST parties with enclave/mpc), but never tests or scripts.
// No production folder may import tests, scripts or local-mode stand-ins, which never ship in the image.
// `make lint` runs this; test/tooling/layout-rules.test.ts proves each rule fires on a violation.

/** @param {string} name @param {string} from @param {string} to @param {string} why */
const forbid = (name, from, to, why) => ({
  name,
  comment: why,
  severity: 'error',
  from: { path: from },
  // `dynamic` is deliberately left unset: the rule covers static, dynamic and type-only imports alike.
  to: { path: to },
});

module.exports = {
  forbidden: [
    forbid('enclave-not-to-outside', '^enclave/', '^(parent|scripts|test|local)/',
      'enclave/ runs in the enclave; it may import only enclave/ and proto/'),
    forbid('parent-not-to-enclave', '^parent/', '^(enclave|scripts|test|local)/',
      'parent/ is untrusted; it talks to the enclave through proto/ only'),
    forbid('proto-is-a-leaf', '^proto/', '^(enclave|parent|scripts|test|local)/',
      'proto/ is the shared contract; it depends on neither side'),
    forbid('local-not-to-tests-or-scripts', '^local/', '^(test|scripts)/',
      'local/ stand-ins are a runnable product of their own; they never import tests or scripts'),
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve would hide a layout violation from these rules',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json', '.d.ts'],
    },
  },
};

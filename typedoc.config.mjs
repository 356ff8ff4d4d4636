// TypeDoc: the library's API reference (server/index.ts and what it re-exports) as Markdown in
// docs/api/, readable on GitHub. `npm run docs:api` writes it; test/unit/docs/api-reference.test.ts
// fails when an export has no doc comment or when docs/api/ is not what this writes.
import { readFileSync } from 'node:fs';

// The error catalogue's entries document themselves (code, message template, HTTP status; and
// docs/protocol.md lists them, checked by a test): no comment is required on each.
const errorCodes = [...readFileSync(new URL('./server/errors.ts', import.meta.url), 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]*): def\(/gm)].map((m) => m[1]);

/** @type {Partial<import('typedoc').TypeDocOptions & import('typedoc-plugin-markdown').PluginOptions>} */
export default {
  entryPoints: ['server/index.ts'],
  tsconfig: 'tsconfig.json',
  plugin: ['typedoc-plugin-markdown'],
  out: 'docs/api',
  name: 'stomp-relay',
  readme: 'none',
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  disableSources: true,
  hidePageHeader: true,
  hideBreadcrumbs: true,
  // The build typechecks the code; the reference only reads it.
  skipErrorChecking: true,
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  requiredToBeDocumented: ['Enum', 'EnumMember', 'Variable', 'Function', 'Class', 'Interface', 'Property', 'Method', 'Accessor', 'TypeAlias'],
  treatWarningsAsErrors: true,
  intentionallyNotDocumented: errorCodes.map((code) => `Errors.__type.${code}`),
  // Referenced by Relay and CreateRelayOptions, documented there, and not part of the contract.
  intentionallyNotExported: ['ClusterPresence', 'DestinationRouter'],
};

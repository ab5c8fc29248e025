/**
 * Plugin naming rules shared by the CLI (to make paths absolute) and the loader. Kept free of
 * plugin code so building the Config does not load JOSE or Redis clients.
 */

/** Built-in token plugins whose source is a file or directory path. */
export const FILE_SOURCE_TOKEN_PLUGINS: ReadonlySet<string> = new Set([
  'ReadOnlyTokenFile',
  'TokenFile',
  'TokenFileName',
  'JWTTokenApi',
  'UnixDomainSocketDirectory',
]);

/** The reference's fully qualified names (`websockify.token_plugins.TokenFile`) map to ours. */
export function builtinName(name: string): string {
  return name.replace(/^websockify\.(?:token|auth)_plugins\./, '');
}

/** `path/to/module.js:ExportName` (or a bare .js/.mjs/.cjs path: its `default` export). */
export function parseUserModuleSpec(name: string): { file: string; exportName: string } | null {
  const match = /^(.*\.(?:js|mjs|cjs))(?::([A-Za-z_$][\w$]*))?$/.exec(name);
  if (!match) return null;
  return { file: match[1]!, exportName: match[2] ?? 'default' };
}

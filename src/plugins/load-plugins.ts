import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import type { PluginSpec } from '../config/config.js';
import type { AuthPlugin, AuthPluginFactory } from './auth/auth-plugin.js';
import { AuthChain } from './auth/auth-chain.js';
import { ExpectOrigin } from './auth/expect-origin.js';
import { registerBuiltinPlugins } from './register-builtin-plugins.js';
import type { PluginContext } from './plugin-context.js';
import { builtinName, parseUserModuleSpec } from './plugin-names.js';
import { AUTH_PLUGINS, TOKEN_PLUGINS } from './registry.js';
import type { TokenPlugin, TokenPluginFactory } from './token/token-plugin.js';

type Kind = 'token' | 'auth';
const METHOD: Record<Kind, 'lookup' | 'authenticate'> = { token: 'lookup', auth: 'authenticate' };
const PYTHON_MODULE: Record<Kind, string> = { token: 'websockify.token_plugins.', auth: 'websockify.auth_plugins.' };

/**
 * Builds the token plugin once at startup. Fails fast with a ConfigError naming the problem:
 * unknown name, missing source, unreadable file or directory, bad user module.
 */
export async function loadTokenPlugin(spec: PluginSpec, context: PluginContext): Promise<TokenPlugin> {
  const factory = await resolveFactory<TokenPluginFactory>('token', spec.name, TOKEN_PLUGINS);
  return checkPlugin<TokenPlugin>('token', spec.name, await build('token', spec, () => factory(spec.source, context)));
}

export async function loadAuthPlugin(spec: PluginSpec, context: PluginContext): Promise<AuthPlugin> {
  const factory = await resolveFactory<AuthPluginFactory>('auth', spec.name, AUTH_PLUGINS);
  return checkPlugin<AuthPlugin>('auth', spec.name, await build('auth', spec, () => factory(spec.source, context)));
}

/**
 * Every auth check the command line asks for, as one plugin: each --auth-plugin in order,
 * then the --allow-origin list. Null when there is none.
 */
export async function loadAuthPlugins(specs: readonly PluginSpec[], allowOrigins: readonly string[], context: PluginContext): Promise<AuthPlugin | null> {
  const plugins: AuthPlugin[] = [];
  for (const spec of specs) plugins.push(await loadAuthPlugin(spec, context));
  if (allowOrigins.length > 0) plugins.push(new ExpectOrigin(allowOrigins));
  if (plugins.length === 0) return null;
  return plugins.length === 1 ? plugins[0]! : new AuthChain(plugins);
}

async function build<T>(kind: Kind, spec: PluginSpec, make: () => T | Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${kind} plugin ${spec.name} failed to start: ${(err as Error).message}`, err);
  }
}

function checkPlugin<T>(kind: Kind, name: string, plugin: unknown): T {
  const method = METHOD[kind];
  if (plugin === null || typeof plugin !== 'object' || typeof (plugin as Record<string, unknown>)[method] !== 'function') {
    throw new ConfigError(`${kind} plugin ${name} does not have a ${method}() method`);
  }
  return plugin as T;
}

async function resolveFactory<F extends TokenPluginFactory | AuthPluginFactory>(kind: Kind, name: string, registry: Map<string, F>): Promise<F> {
  registerBuiltinPlugins();
  const builtin = registry.get(name) ?? (name.startsWith(PYTHON_MODULE[kind]) ? registry.get(builtinName(name)) : undefined);
  if (builtin) return builtin;

  const user = parseUserModuleSpec(name);
  if (user === null) {
    if (name.endsWith('.ts')) throw new ConfigError(`${kind} plugin ${name}: compile TypeScript plugins to .js first (tsc), then name the .js file`);
    if (/^[\w.]+\.\w+$/.test(name)) {
      throw new ConfigError(`${kind} plugin ${name} looks like a Python class path; websockify-ts loads JavaScript modules: path/to/module.js:ExportName`);
    }
    const known = [...registry.keys()].join(', ');
    throw new ConfigError(`unknown ${kind} plugin ${name} (built in: ${known}; or path/to/module.js:ExportName)`);
  }

  const file = path.resolve(user.file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${kind} plugin ${name}: cannot load ${file}: ${(err as Error).message}`, err);
  }
  const exported = mod[user.exportName];
  if (exported === undefined) throw new ConfigError(`${kind} plugin ${name}: ${file} has no export named ${user.exportName}`);
  return userFactory(kind, exported) as F;
}

/**
 * A user export may be a class (`new C(source, context)`, the reference's shape), a factory
 * function (`f(source, context)`, may be async), or a ready object with the method.
 */
function userFactory(kind: Kind, exported: unknown): TokenPluginFactory | AuthPluginFactory {
  const method = METHOD[kind];
  if (typeof exported === 'function') {
    const isClass =
      /^class[\s{]/.test(Function.prototype.toString.call(exported)) ||
      typeof (exported.prototype as Record<string, unknown> | undefined)?.[method] === 'function';
    const ctor = exported as new (source: string | null, context: PluginContext) => TokenPlugin & AuthPlugin;
    const fn = exported as (source: string | null, context: PluginContext) => TokenPlugin & AuthPlugin;
    return (source, context) => (isClass ? new ctor(source, context) : fn(source, context));
  }
  return () => exported as TokenPlugin & AuthPlugin;
}

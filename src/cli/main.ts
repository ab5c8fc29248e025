#!/usr/bin/env -S node --single-threaded-gc
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { buildConfig, refusePlanned } from './build-config.js';
import type { Config } from '../config/config.js';
import { ListenError, UsageError, WebsockifyError } from '../errors.js';
import { loadAccessControl } from '../admission/load-access-control.js';
import type { ListenAddress } from '../listen/listener.js';
import { WebsockifyServer } from '../server/websockify-server.js';
import { isWorkerProcess, SINGLE_PROCESS, takesPartInWorkers } from '../cluster/worker-role.js';
import { DAEMON_CWD_ENV, isDaemonChild, reportDaemonFailed, reportDaemonReady, runDaemonParent } from './daemonize.js';
import { processParentChannel } from './parent-channel.js';
import { EXIT_FAILURE, EXIT_USAGE, Lifecycle, serve } from './lifecycle.js';
import { createLogger, OpsRuntime } from './ops-runtime.js';
import { parseArgv } from './argv-parser.js';
import { bannerText } from './banner.js';
import { OPTIONS } from './option-table.js';
import { helpText, helpWidth, usageText } from './usage.js';
import { resolveKeyPassword } from './key-password.js';
import { lookupGroupId } from './group-id.js';
import { consoleUrl, novncCommandArgv, servesConsolePage } from './novnc-command.js';
import { createWebHandler } from '../http/web-handler.js';
import { connectionOf } from '../server/connection.js';
import type { Logger } from '../log/logger.js';
import { createTlsUpgrader, setupTls } from '../tls/setup-tls.js';
import { loadTargetTls, targetTlsBaseOptions } from '../tls/target-tls.js';
import type { ServerReverse } from '../reverse/start-reverse.js';

/** Annotated: TypeScript ends the control flow at `lifecycle.exit()` (never) only through an explicitly typed name. */
const lifecycle: Lifecycle = new Lifecycle();

function programName(): string {
  return path.basename(process.argv[1] ?? 'websockify').replace(/\.js$/, '') === 'main' ? 'websockify' : path.basename(process.argv[1] ?? 'websockify');
}

/** The version in package.json (dist/src/cli -> package root, as installed by npm). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

function parseCommandLine(argv: readonly string[]): Config | null {
  const prog = programName();
  try {
    const words = argv[0] === 'novnc' ? novncCommandArgv(argv.slice(1)) : argv;
    const parsed = parseArgv(words, OPTIONS);
    if (parsed.options.get('help') === true) {
      process.stdout.write(helpText(prog, helpWidth(process.stdout.columns, process.env)));
      return null;
    }
    if (parsed.options.get('version') === true) {
      process.stdout.write(`websockify-ts ${packageVersion()}\n`);
      return null;
    }
    refusePlanned(parsed.options, new Set(OPTIONS.filter((o) => o.planned).map((o) => o.long)));
    // A daemon child resolves relative paths against the directory its parent was started in.
    const cwd = (isDaemonChild() && process.env[DAEMON_CWD_ENV]) || process.cwd();
    return buildConfig(parsed, {
      cwd,
      keyPassword: resolveKeyPassword(parsed.options, process.env, cwd),
      groupId: lookupGroupId,
      ...systemdSocket(parsed.options.get('systemd-socket') === true),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${usageText(prog)}\n${prog}: error: ${err.message}\n`);
      lifecycle.exit(EXIT_USAGE);
    }
    throw err;
  }
}

/**
 * --systemd-socket: sd_listen_fds(3) semantics. The socket is ours only when LISTEN_PID names
 * this process; the variables are then removed so a wrapped program does not take it too.
 */
function systemdSocket(wanted: boolean): { systemdFd?: number } {
  if (!wanted) return {};
  // A --workers worker: the primary took the socket and listens on its fd 3 for us.
  if (isWorkerProcess(process.env)) return { systemdFd: 3 };
  const pid = process.env.LISTEN_PID;
  const count = Number(process.env.LISTEN_FDS ?? '0');
  if (pid !== String(process.pid) || !(count >= 1)) {
    throw new UsageError('--systemd-socket: no socket was passed (LISTEN_PID/LISTEN_FDS are not set for this process)');
  }
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  return { systemdFd: 3 };
}

async function main(): Promise<void> {
  const config = parseCommandLine(process.argv.slice(2));
  if (!config) return;
  const daemonChild = isDaemonChild();
  if (config.daemon && !daemonChild) {
    // -D: re-spawn detached; this process exits once the daemon listens (see daemonize.ts).
    const code = await runDaemonParent({ argv: process.argv.slice(2), cwd: process.cwd(), childCwd: config.web?.root ?? '/', stderr: process.stderr });
    lifecycle.exit(code);
  }
  const failStartup = async (message: string): Promise<never> => {
    process.stderr.write(`websockify: ${message}\n`);
    if (daemonChild) await reportDaemonFailed(message, processParentChannel);
    lifecycle.exit(EXIT_FAILURE);
  };
  const logger = await createLogger(config, { stderr: process.stderr, daemonChild }).catch((err: Error) => failStartup(err.message));
  // A start failure once the logger exists: one line, through the logger (stderr, --log-file,
  // --syslog). Only a daemon child, whose log has no stderr, also hands it to its parent.
  const failLogged = async (message: string): Promise<never> => {
    logger.error(message);
    if (daemonChild) await reportDaemonFailed(message, processParentChannel);
    await logger.close();
    lifecycle.exit(EXIT_FAILURE);
  };
  // --workers N: this process only supervises N workers, each of which runs the rest of main().
  // What only some starts use (--workers, wrap mode, --web-auth and its pages, --reverse-listen)
  // is imported when they do: a plain start loads 17 modules fewer and takes ~10 ms of CPU
  // less (docs/performance.md, "Starting up"), which --inetd and --run-once pay per connection.
  const workers = takesPartInWorkers(config, process.env)
    ? (await import('../cluster/set-up-workers.js')).setUpWorkers(config, logger, process.env, lifecycle, processParentChannel)
    : SINGLE_PROCESS;
  if (workers.primary) {
    const code = await workers.primary;
    await logger.close();
    lifecycle.exit(code);
  }
  // Wrap mode without its library or its program cannot work: say so before taking the port.
  if (config.wrap) {
    (await import('../wrap/preload-library.js')).findPreloadLibrary();
    (await import('../wrap/find-program.js')).findWrappedProgram(config.wrap.command[0] ?? '', process.env.PATH);
  }
  // TLS files, the web root and the target CA are checked before listening, so a bad file
  // fails the launch with a message naming it (exit 1) instead of failing clients later.
  let tls: ReturnType<typeof setupTls>;
  let requestHandler: ReturnType<typeof createWebHandler>;
  let targetTls: ReturnType<typeof loadTargetTls> | null;
  try {
    tls = setupTls(config, logger, { quietLoads: !workers.speaksForServer });
    requestHandler = createWebHandler(config, logger);
    targetTls = config.targetTls ? loadTargetTls(config.targetTlsOptions) : null;
  } catch (err) {
    return failLogged(err instanceof WebsockifyError ? err.message : String(err));
  }
  // Plugins are built once, before listening: a bad plugin name, source or file stops the
  // start here with a clear message (exit 1) instead of failing every connection later.
  const access = await loadAccessControl(config, logger, workers.speaksForServer);
  const webAuthLogger = (req: IncomingMessage): Logger => connectionOf(req.socket)?.logger ?? logger;
  const webAuth = config.webAuth ? await import('../http/web-auth.js') : null;
  // The recordings player exists only behind --web-auth (docs/recording.md).
  if (requestHandler && webAuth && config.record !== null) {
    const { createRecordingsHandler, withRecordings } = await import('../http/recordings-handler.js');
    try {
      requestHandler = withRecordings(requestHandler, createRecordingsHandler(config.record, logger));
    } catch (err) {
      return failLogged(err instanceof WebsockifyError ? err.message : String(err));
    }
  }
  if (requestHandler && webAuth) requestHandler = webAuth.withWebAuth(requestHandler, access, webAuthLogger);
  const ops = await OpsRuntime.create(config, workers.clusterMetrics);
  // A password on the pages covers the metrics on the same port too (docs/security.md).
  if (webAuth) ops.guardMainPortMetrics((handler) => webAuth.withWebAuth(handler, access, webAuthLogger));
  // --reverse-listen (docs/reverse.md): VNC servers that connect in; under --workers the primary listens.
  let reverse: ServerReverse | null = null;
  if (config.reverse !== null) {
    const { setUpServerReverse } = await import('../reverse/start-reverse.js');
    try {
      const provider = tls;
      reverse = setUpServerReverse(
        config,
        logger,
        access.tokenPlugin,
        ops.metrics?.reverse ?? null,
        isWorkerProcess(process.env) ? processParentChannel : null,
        provider ? () => provider.current() : undefined,
      );
    } catch (err) {
      return failLogged(err instanceof WebsockifyError ? err.message : String(err));
    }
  }
  const server = new WebsockifyServer(config, logger, {
    access,
    ...(reverse ? { reverse: reverse.broker, reverseMetrics: ops.metrics?.reverse ?? null } : {}),
    ...ops.serverParts(process.stdout, logger),
    ...(tls ? { tls: createTlsUpgrader(tls, config) } : {}),
    ...(requestHandler ? { requestHandler } : {}),
    ...(targetTls ? { targetTlsOptions: targetTlsBaseOptions(targetTls) } : {}),
  });
  workers.attach(server, logger, { metrics: ops.workerMetrics(), sessionLimits: access.limits });
  // SIGHUP re-reads the certificate and key (a bad new pair keeps the old one serving).
  if (tls) {
    const provider = tls;
    ops.reload.add('TLS certificate', () => provider.reloadOrThrow('SIGHUP'));
  }

  let address: ListenAddress;
  try {
    address = await server.listen();
  } catch (err) {
    const message = err instanceof ListenError ? err.message : `Opening socket failed: ${(err as Error).message}`;
    logger.error(message);
    if (daemonChild) await reportDaemonFailed(message, processParentChannel);
    lifecycle.exit(EXIT_FAILURE);
  }
  if (reverse) {
    try {
      for (const where of await reverse.listen()) logger.info(`reverse listener on ${where}`);
    } catch (err) {
      await failLogged((err as Error).message);
    }
  }
  try {
    await ops.start(server, logger);
  } catch (err) {
    await failLogged((err as Error).message);
  }
  // Signals are handled before the banner: whoever reads it (a test, a supervisor) may send
  // SIGTERM at once and must get the orderly exit, not the default kill.
  const served = serve(lifecycle, {
    config,
    server,
    logger,
    drain: () => ops.drain(server, logger),
    reload: () => void ops.reload.run(logger),
    worker: isWorkerProcess(process.env),
  });
  // After the sessions: the held reverse servers nobody paired with.
  served.closeOnExit(async () => reverse?.close());
  served.closeOnExit(() => access.close());
  served.closeOnExit(() => ops.stop());

  const banner = bannerText(config, address, tls !== null);
  // Under --workers, one banner for the server: the worker started last prints it, when every
  // worker listens.
  if (workers.printsBanner) {
    logger.raw(banner);
    if (servesConsolePage(config) && address.kind === 'tcp') {
      logger.raw(`  - noVNC console: open ${consoleUrl(address, tls !== null && config.tls.sslOnly)}`);
    }
  }
  if (daemonChild) {
    logger.info(`running in the background as pid ${process.pid}`);
    reportDaemonReady(banner, processParentChannel);
  }

  // Wrap mode: the program starts once we listen (the reference's started()), so it binds the
  // port we really got; exit mode ends us with the program's own exit code.
  if (config.wrap) {
    const { startWrappedProgram } = await import('../wrap/wrapped-program.js');
    const wrapped = await startWrappedProgram(config, logger, {
      listenPort: address.kind === 'tcp' ? address.port : null,
      env: process.env,
      groups: lifecycle,
      onTarget: (target) => server.setTarget(target),
    });
    served.closeOnExit(() => wrapped.stop());
    if (config.wrap.mode === 'exit') void wrapped.exitCode.then((code) => served.exit(`wrapped program exited with status ${code}`, code));
  }
}

main().catch((err: unknown) => {
  const message = err instanceof WebsockifyError ? err.message : ((err as Error)?.stack ?? String(err));
  process.stderr.write(`websockify: ${message}\n`);
  lifecycle.exit(EXIT_FAILURE);
});

#!/usr/bin/env -S node --single-threaded-gc
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { buildConfig, refusePlanned } from './build-config.js';
import type { Config } from '../config/config.js';
import { ListenError, UsageError, WebsockifyError } from '../errors.js';
import { loadAccessControl } from '../admission/load-access-control.js';
import { WebsockifyServer } from '../server/websockify-server.js';
import { isWorkerProcess, setUpWorkers } from '../cluster/set-up-workers.js';
import { findWrappedProgram } from '../wrap/find-program.js';
import { findPreloadLibrary } from '../wrap/preload-library.js';
import { startWrappedProgram, type WrappedProgram } from '../wrap/wrapped-program.js';
import { DAEMON_CWD_ENV, isDaemonChild, reportDaemonFailed, reportDaemonReady, runDaemonParent } from './daemonize.js';
import { createLogger, OpsRuntime } from './ops-runtime.js';
import { parseArgv } from './argv-parser.js';
import { bannerText } from './banner.js';
import { OPTIONS } from './option-table.js';
import { helpText, helpWidth, usageText } from './usage.js';
import { resolveKeyPassword } from './key-password.js';
import { consoleUrl, novncCommandArgv, servesConsolePage } from './novnc-command.js';
import { createWebHandler } from '../http/web-handler.js';
import { createRecordingsHandler, withRecordings } from '../http/recordings-handler.js';
import { withWebAuth } from '../http/web-auth.js';
import { connectionOf } from '../server/connection.js';
import type { Logger } from '../log/logger.js';
import { createTlsUpgrader, setupTls } from '../tls/setup-tls.js';
import { loadTargetTls, targetTlsBaseOptions } from '../tls/target-tls.js';

/** Exit statuses: 0 clean, 1 runtime failure (listen, config files), 2 bad command line. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

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
      ...systemdSocket(parsed.options.get('systemd-socket') === true),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${usageText(prog)}\n${prog}: error: ${err.message}\n`);
      process.exit(EXIT_USAGE);
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
    process.exit(code);
  }
  const failStartup = async (message: string): Promise<never> => {
    process.stderr.write(`websockify: ${message}\n`);
    if (daemonChild) await reportDaemonFailed(message);
    process.exit(EXIT_FAILURE);
  };
  const logger = await createLogger(config, { stderr: process.stderr, daemonChild }).catch((err: Error) => failStartup(err.message));
  // A start failure once the logger exists: one line, through the logger (stderr, --log-file,
  // --syslog). Only a daemon child, whose log has no stderr, also hands it to its parent.
  const failLogged = async (message: string): Promise<never> => {
    logger.error(message);
    if (daemonChild) await reportDaemonFailed(message);
    await logger.close();
    process.exit(EXIT_FAILURE);
  };
  // --workers N: this process only supervises N workers, each of which runs the rest of main().
  const workers = setUpWorkers(config, logger, process.env);
  if (workers.primary) {
    const code = await workers.primary;
    await logger.close();
    process.exit(code);
  }
  // Wrap mode without its library or its program cannot work: say so before taking the port.
  if (config.wrap) {
    findPreloadLibrary();
    findWrappedProgram(config.wrap.command[0] ?? '', process.env.PATH);
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
  const access = await loadAccessControl(config, logger);
  const webAuthLogger = (req: IncomingMessage): Logger => connectionOf(req.socket)?.logger ?? logger;
  // The recordings player exists only behind --web-auth (docs/recording.md).
  if (requestHandler && config.webAuth && config.record !== null) {
    try {
      requestHandler = withRecordings(requestHandler, createRecordingsHandler(config.record, logger));
    } catch (err) {
      return failLogged(err instanceof WebsockifyError ? err.message : String(err));
    }
  }
  if (requestHandler && config.webAuth) requestHandler = withWebAuth(requestHandler, access, webAuthLogger);
  const ops = await OpsRuntime.create(config, workers.clusterMetrics);
  // A password on the pages covers the metrics on the same port too (docs/security.md).
  if (config.webAuth) ops.guardMainPortMetrics((handler) => withWebAuth(handler, access, webAuthLogger));
  const server = new WebsockifyServer(config, logger, {
    access,
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

  let description: string;
  try {
    description = await server.listen();
  } catch (err) {
    const message = err instanceof ListenError ? err.message : `Opening socket failed: ${(err as Error).message}`;
    logger.error(message);
    if (daemonChild) await reportDaemonFailed(message);
    process.exit(EXIT_FAILURE);
  }
  try {
    await ops.start(server, logger);
  } catch (err) {
    await failLogged((err as Error).message);
  }
  const banner = bannerText(config, description, tls !== null);
  logger.raw(banner);
  if (servesConsolePage(config) && config.listen.kind === 'tcp') {
    logger.raw(`  - noVNC console: open ${consoleUrl(description, tls !== null && config.tls.sslOnly)}`);
  }
  if (daemonChild) {
    logger.info(`running in the background as pid ${process.pid}`);
    reportDaemonReady(banner);
  }

  let exiting = false;
  let wrapped: WrappedProgram | null = null;
  const exit = async (why: string, code = 0): Promise<void> => {
    if (exiting) return;
    exiting = true;
    logger.info(why);
    // Sessions first (they close with 1001 while the program still answers), then the program
    // and its process group (the reference left it running).
    await server.shutdown();
    await access.close();
    await ops.stop();
    await wrapped?.stop();
    await logger.close();
    process.exit(code);
  };
  let stopSignals = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopSignals++;
      if (stopSignals === 1) {
        // The listener closes before the line is written: whoever reads "In exit" (an operator,
        // a test, a supervisor) may count on new connections being refused from then on. Logged
        // first, a client could connect between the write and the close and be reset (seen as a
        // 502 from haproxy in test/e2e/scale-out.test.ts on a busy machine). Not awaited:
        // server.close() resolves only once every connection is gone.
        void server.stopAccepting();
        logger.info(`In exit (${signal})`);
        // --drain-timeout: readiness fails and sessions may end on their own before the 1001.
        void ops.drain(server, logger).then(() => exit('closing remaining sessions'));
      } else if (!exiting) {
        void exit('second signal: closing remaining sessions now');
      } else {
        process.exit(EXIT_FAILURE); // a third signal: stop waiting
      }
    });
  }
  // SIGHUP: reopen logs and reload what registered (the TLS certificate); sessions stay.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading');
    void ops.reload.run(logger);
  });
  // SIGUSR1: reopen log files only (logrotate's usual postrotate signal).
  process.on('SIGUSR1', () => logger.reopen());

  // Wrap mode: the program starts once we listen (the reference's started()), so it binds the
  // port we really got; exit mode ends us with the program's own exit code.
  if (config.wrap) {
    const listenPort = config.listen.kind === 'tcp' ? Number(description.slice(description.lastIndexOf(':') + 1)) : null;
    wrapped = await startWrappedProgram(config, logger, {
      listenPort,
      env: process.env,
      onTarget: (target) => server.setTarget(target),
    });
    if (config.wrap.mode === 'exit') void wrapped.exitCode.then((code) => exit(`wrapped program exited with status ${code}`, code));
  }

  // --run-once: the first WebSocket session (whatever its outcome) is the last.
  if (config.runOnce) {
    server.onSessionStart = (session) => {
      server.onSessionStart = null;
      void server.stopAccepting();
      void session.done.then(() => exit('run-once: session finished'));
    };
  }

  // --timeout N: stop accepting N seconds after launch; exit once the last session ends.
  if (config.timeoutSec > 0) {
    setTimeout(() => {
      // Close the listener first (server.close() releases the socket at once), then say so: a
      // client that reads this line and connects must be refused, not accepted and then reset.
      const stopped = server.stopAccepting();
      // Under --workers the primary says it once every worker has closed (cluster/supervisor.ts).
      if (!isWorkerProcess(process.env)) logger.info(`listener exit due to --timeout ${config.timeoutSec}`);
      void stopped.then(async () => {
        await Promise.all([...server.registry.sessions].map((s) => s.done));
        const wait = setInterval(() => {
          if (server.registry.openConnections === 0) {
            clearInterval(wait);
            void exit('all sessions finished');
          }
        }, 200);
      });
    }, config.timeoutSec * 1000).unref();
  }

  // --idle-timeout N: exit after N seconds with no open connection at all.
  if (config.idleTimeoutSec > 0) {
    setInterval(() => {
      if (server.registry.idleForMs() >= config.idleTimeoutSec * 1000) {
        void exit(`listener exit due to --idle-timeout ${config.idleTimeoutSec}`);
      }
    }, 250).unref();
  }
}

main().catch((err: unknown) => {
  const message = err instanceof WebsockifyError ? err.message : ((err as Error)?.stack ?? String(err));
  process.stderr.write(`websockify: ${message}\n`);
  process.exit(EXIT_FAILURE);
});

import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { TargetSpec } from '../../config/config.js';
import type { Logger } from '../../log/logger.js';
import { parseTokenFile } from './parse-token-file.js';

interface FileEntry {
  signature: string;
  targets: Map<string, TargetSpec>;
}

/**
 * The token table behind ReadOnlyTokenFile and TokenFile: one file, or every regular file
 * directly inside a directory (dotfiles included, subdirectories ignored, as the reference),
 * merged in name order so a later file overrides an earlier one deterministically.
 *
 * `refresh()` is what makes TokenFile "re-read when changed" cheap: it stats the source (and,
 * for a directory, lists it and stats each file) and re-parses only files whose
 * inode/size/mtime changed. The reference re-reads and re-parses every file on every lookup.
 */
export class TokenFileStore {
  private files = new Map<string, FileEntry>();
  private merged = new Map<string, TargetSpec>();
  private refreshing: Promise<void> | null = null;

  constructor(
    readonly source: string,
    private readonly logger: Logger,
    /** Syntax errors at debug level: another --workers worker reports the same file. */
    private readonly options: { quietSyntaxErrors?: boolean } = {},
  ) {}

  get(token: string): TargetSpec | null {
    return this.merged.get(token) ?? null;
  }

  /** Whether some token's target is `reverse:<id>`. */
  hasReverseId(id: string): boolean {
    for (const target of this.merged.values()) if (target.kind === 'reverse' && target.id === id) return true;
    return false;
  }

  get size(): number {
    return this.merged.size;
  }

  /** Concurrent lookups share one refresh. Throws when the source itself cannot be read. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const top = await fsp.stat(this.source);
    const paths: Array<[string, Stats]> = [];
    if (top.isDirectory()) {
      const names = (await fsp.readdir(this.source)).sort();
      // Stat the entries concurrently: one lookup costs about one stat round, not N.
      const stats = await Promise.all(
        names.map((name) =>
          fsp.stat(path.join(this.source, name)).then(
            (st) => st,
            // removed between readdir and stat: it is simply not part of this table
            () => null,
          ),
        ),
      );
      names.forEach((name, i) => {
        const st = stats[i];
        if (st && st.isFile()) paths.push([path.join(this.source, name), st]);
      });
    } else {
      paths.push([this.source, top]);
    }

    let changed = paths.length !== this.files.size;
    const next = new Map<string, FileEntry>();
    for (const [full, st] of paths) {
      const signature = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      const old = this.files.get(full);
      if (old && old.signature === signature) {
        next.set(full, old);
        continue;
      }
      changed = true;
      let text: string;
      try {
        text = await fsp.readFile(full, 'utf8');
      } catch (err) {
        if (full === this.source) throw err;
        continue;
      }
      const parsed = parseTokenFile(text);
      for (const error of parsed.errors) {
        // The reference logs `Syntax error in <source> on line <n>`; we name the file itself and
        // say what is wrong. Said once per change of the file: an unchanged file is not re-parsed.
        const line = `Syntax error in ${full} on line ${error.line}: ${error.message}`;
        if (this.options.quietSyntaxErrors === true) this.logger.debug(line);
        else this.logger.error(line);
      }
      next.set(full, { signature, targets: parsed.targets });
    }
    if (!changed) return;
    const merged = new Map<string, TargetSpec>();
    for (const entry of next.values()) for (const [token, target] of entry.targets) merged.set(token, target);
    this.files = next;
    this.merged = merged;
  }
}

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * The group id of `name`, or null when there is no such group (--unix-listen-group). Node has
 * no getgrnam(3); `getent group` asks it through NSS, so groups from LDAP or systemd-userdb are
 * found as chgrp(1) would find them. Without getent (a minimal container), /etc/group is read.
 */
export function lookupGroupId(name: string): number | null {
  const getent = spawnSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (getent.error === undefined) return getent.status === 0 ? groupIdFrom(getent.stdout, name) : null;
  let text: string;
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    return null;
  }
  return groupIdFrom(text, name);
}

/** `name:password:gid:members` lines, as group(5) and getent print them. */
export function groupIdFrom(text: string, name: string): number | null {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && fields[0] === name && /^\d+$/.test(fields[2]!)) return Number(fields[2]);
  }
  return null;
}

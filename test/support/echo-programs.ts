/**
 * Small real TCP servers used as wrapped programs. Each binds as told, prints one line
 * `LISTENING <json of getsockname()>` once listening, greets every connection with
 * `HELLO peer=<peer> sock=<local>\n` and then echoes what it receives.
 */

/** Python: `python3 -c PY_ECHO HOST PORT [v6only|dual|v4]`. */
export const PY_ECHO = `
import json, socket, sys, threading
host, port, fam = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else 'v4')
s = socket.socket(socket.AF_INET6 if fam in ('v6only', 'dual') else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if fam != 'v4':
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if fam == 'v6only' else 0)
s.bind((host, port))
s.listen(16)
print('LISTENING ' + json.dumps(list(s.getsockname())), flush=True)
def serve(c, peer):
    c.sendall(('HELLO peer=%s sock=%s\\n' % (json.dumps(list(peer)), json.dumps(list(c.getsockname())))).encode())
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
`;

/** Node: `node -e NODE_ECHO PORT [HOST]`; with no HOST Node listens on :: (falling back to 0.0.0.0). */
export const NODE_ECHO = `
const net = require('node:net');
const [port, host] = process.argv.slice(1);
const server = net.createServer((c) => {
  c.write('HELLO peer=' + JSON.stringify([c.remoteAddress, c.remotePort]) + ' sock=' + JSON.stringify([c.localAddress, c.localPort]) + '\\n');
  c.pipe(c);
});
server.listen(Number(port), host, () => console.log('LISTENING ' + JSON.stringify(server.address())));
process.on('SIGTERM', () => process.exit(0));
`;

// Forwards / and vnc_lite.html to vnc.html, keeping the query and the hash (noVNC links put
// settings in both). A file rather than an inline script so the console's CSP can forbid inline code.
location.replace('./vnc.html' + location.search + location.hash);

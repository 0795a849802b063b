// The Node frontend stand-in: binds exactly as a Next.js standalone `server.js` does
// (hostname = $HOSTNAME || '0.0.0.0', port = $PORT || 3000), so a container whose HOSTNAME is Docker's
// default (its id, resolving to its own address) does not listen on 127.0.0.1, as with Next.js.
// Answers like tests/support/standin_servers/server.py: a JSON echo on every path, a WebSocket echo,
// Server-Sent Events at /__standin/sse and a data file at /__standin/data (under any prefix).
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const hostname = process.env.HOSTNAME || '0.0.0.0';
const port = parseInt(process.env.PORT, 10) || 3000;
const service = process.env.STANDIN_SERVICE || hostname;
const dataFile = path.join(process.env.STANDIN_DATA_DIR || '/tmp', 'standin.txt');

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const [pathname, query = ''] = req.url.split('?');
  if (pathname.endsWith('/__standin/sse')) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    let n = 0;
    const tick = () => {
      res.write(`data: event ${n} at ${(Date.now() / 1000).toFixed(3)}\n\n`);
      if (++n < 3) setTimeout(tick, 500); else res.end();
    };
    return tick();
  }
  if (pathname.endsWith('/__standin/data')) {
    if (req.method === 'PUT') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      return req.on('end', () => {
        try { fs.writeFileSync(dataFile, Buffer.concat(chunks)); send(res, 201, 'written', 'text/plain'); }
        catch (err) { send(res, 500, String(err), 'text/plain'); }
      });
    }
    try { return send(res, 200, fs.readFileSync(dataFile), 'text/plain'); }
    catch (err) { return send(res, 404, 'no data', 'text/plain'); }
  }
  req.resume();
  req.on('end', () => send(res, 200, JSON.stringify({
    service, method: req.method, path: pathname, query, headers: req.headers,
  })));
});

server.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    + `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buffer = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 2) {
      const opcode = buffer[0] & 0x0f;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) { length = buffer.readUInt16BE(2); offset = 4; }
      else if (length === 127) { length = Number(buffer.readBigUInt64BE(2)); offset = 10; }
      const masked = buffer[1] & 0x80;
      const need = offset + (masked ? 4 : 0) + length;
      if (buffer.length < need) return;
      const mask = masked ? buffer.subarray(offset, offset + 4) : Buffer.alloc(4);
      const payload = Buffer.from(buffer.subarray(need - length, need).map((b, i) => b ^ mask[i % 4]));
      buffer = buffer.subarray(need);
      if (opcode === 0x8) return socket.end();
      const reply = opcode === 0x9 ? 0xa : opcode;
      const head = payload.length < 126 ? Buffer.from([0x80 | reply, payload.length])
        : Buffer.from([0x80 | reply, 126, payload.length >> 8, payload.length & 0xff]);
      socket.write(Buffer.concat([head, payload]));
    }
  });
  socket.on('error', () => socket.destroy());
});

server.listen(port, hostname, () => {
  console.log(`stand-in ${service} (Next.js-style) listening on ${hostname}:${port}`);
});

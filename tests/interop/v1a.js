// Node.js's own Ed25519 (crypto.sign / crypto.verify, no npm package) on
// both ends of Standard Webhooks `v1a`, over HTTP, for tests/interop/v1a.sh.
//
//   node v1a.js keygen
//       prints `whsk_<base64 seed+public> whpk_<base64 public>`
//   node v1a.js serve <port-file> <whpk-key>
//       a receiver on 127.0.0.1 (port written to <port-file>): 204 when a
//       `v1a` entry of `webhook-signature` is the key's signature of
//       `id.timestamp.body` and the timestamp is within 5 minutes, else 401
//   node v1a.js post <url> <whsk-key> <id> <body-file> [signed-body-file]
//       signs <signed-body-file> (default: the body) at now, POSTs the body;
//       exit 0 on a 2xx
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function decodeKey(text, prefix, lengths) {
  if (!text.startsWith(prefix)) throw new Error(`key does not start with ${prefix}`);
  const raw = Buffer.from(text.slice(prefix.length), 'base64');
  if (!lengths.includes(raw.length)) throw new Error(`key is ${raw.length} bytes`);
  return raw;
}

function privateKey(whsk) {
  const raw = decodeKey(whsk, 'whsk_', [32, 64]);
  const seed = raw.subarray(0, 32);
  // From the seed alone; a 64-byte pair's public half must match it.
  const key = crypto.createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  if (raw.length === 64) {
    const pub = crypto.createPublicKey(key).export({ format: 'jwk' }).x;
    if (pub !== b64url(raw.subarray(32))) throw new Error('key pair halves do not match');
  }
  return key;
}

function publicKey(whpk) {
  const raw = decodeKey(whpk, 'whpk_', [32]);
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
}

const signedContent = (id, ts, body) => Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);

function verify(key, headers, body) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs || !/^\d+$/.test(ts)) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const content = signedContent(id, ts, body);
  return sigs.split(' ').some((entry) => {
    if (!entry.startsWith('v1a,')) return false;
    const sig = Buffer.from(entry.slice(4), 'base64');
    return sig.length === 64 && crypto.verify(null, content, key, sig);
  });
}

function main(argv) {
  const [cmd, ...a] = argv;
  if (cmd === 'keygen') {
    const { publicKey: pub, privateKey: priv } = crypto.generateKeyPairSync('ed25519');
    const jwk = priv.export({ format: 'jwk' });
    const seed = Buffer.from(jwk.d, 'base64url');
    const pk = Buffer.from(pub.export({ format: 'jwk' }).x, 'base64url');
    console.log(`whsk_${Buffer.concat([seed, pk]).toString('base64')} whpk_${pk.toString('base64')}`);
    return;
  }
  if (cmd === 'serve') {
    const [portFile, whpk] = a;
    const key = publicKey(whpk);
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const ok = verify(key, req.headers, Buffer.concat(chunks));
        res.writeHead(ok ? 204 : 401);
        res.end();
        console.log(`${ok ? 'verified' : 'refused'} ${req.headers['webhook-id']}`);
      });
    });
    server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
    return;
  }
  if (cmd === 'post') {
    const [url, whsk, id, bodyFile, signedFile] = a;
    const body = fs.readFileSync(bodyFile);
    const signed = signedFile ? fs.readFileSync(signedFile) : body;
    const ts = Math.floor(Date.now() / 1000);
    const sig = crypto.sign(null, signedContent(id, ts, signed), privateKey(whsk)).toString('base64');
    const req = http.request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': `v1a,${sig}`,
      },
    }, (res) => {
      res.resume();
      console.log(res.statusCode);
      process.exitCode = res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1;
    });
    req.on('error', (e) => { console.error(e.message); process.exitCode = 1; });
    req.end(body);
    return;
  }
  throw new Error(`unknown command ${cmd}`);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(e.message);
  process.exit(1);
}

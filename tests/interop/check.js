// Third-party verifiers and signers for tests/interop/run.sh.
//
//   node check.js seed-verify <body-file> <hex-signature> <raw-secret>
//   node check.js hex-sign <body-file> <raw-secret>
//   node check.js sw-verify <whsec-secret> <id> <timestamp> <signature> <body-file>
//   node check.js sw-sign <whsec-secret> <id> <timestamp> <body-file>
//
// Exit 0 when verified (or signed), 1 otherwise.
const fs = require('fs');
const path = require('path');
const { Webhook } = require(path.join(__dirname, 'node', 'node_modules', 'standardwebhooks'));

// ---- verbatim from the seed (seeds/000_068a101c454165ab.txt), untouched ----
// Verify webhook signature (Node.js example)
const crypto = require('crypto');

function verifyWebhookSignature(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex');

  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expectedSignature)
  );
}
// ---- end of the seed's code ----

function main(argv) {
  const [cmd, ...a] = argv;
  if (cmd === 'seed-verify') {
    const [bodyFile, sig, secret] = a;
    // The raw body bytes, as an Express `raw` body parser would give them.
    return verifyWebhookSignature(fs.readFileSync(bodyFile), sig, secret);
  }
  if (cmd === 'hex-sign') {
    // The same HMAC the seed's verifier computes, for hookwire to verify.
    const [bodyFile, secret] = a;
    console.log(crypto.createHmac('sha256', secret).update(fs.readFileSync(bodyFile)).digest('hex'));
    return true;
  }
  if (cmd === 'sw-verify') {
    const [secret, id, ts, sig, bodyFile] = a;
    const headers = { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sig };
    new Webhook(secret).verify(fs.readFileSync(bodyFile, 'utf8'), headers, { jsonParse: false });
    return true;
  }
  if (cmd === 'sw-sign') {
    const [secret, id, ts, bodyFile] = a;
    console.log(new Webhook(secret).sign(id, new Date(Number(ts) * 1000), fs.readFileSync(bodyFile, 'utf8')));
    return true;
  }
  throw new Error(`unknown command ${cmd}`);
}

try {
  process.exit(main(process.argv.slice(2)) ? 0 : 1);
} catch (e) {
  console.error(`check.js: ${e.message}`);
  process.exit(1);
}

// Posts signed bodies over HTTP (Node's fetch) to hookwire's axum receiver,
// for tests/interop/run.sh. Prints `<status> <response body>`.
//
//   node post.js hex <url> <raw-secret> <body-file> [tamper]
//   node post.js standard <url> <whsec-secret> <id> <body-file> [tamper]
//
// hex: the HMAC the seed's verifier computes (crypto.createHmac, hex digest)
// in x-intelligems-signature; standard: npm standardwebhooks' sign(), signed
// now. `tamper` sends the body with one more byte than was signed.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Webhook } = require(path.join(__dirname, 'node', 'node_modules', 'standardwebhooks'));

async function main(argv) {
  const [scheme, url, ...a] = argv;
  let headers, body;
  if (scheme === 'hex') {
    const [secret, bodyFile] = a;
    body = fs.readFileSync(bodyFile);
    const sig = crypto.createHmac('sha256', secret).update(body).digest('hex');
    headers = { 'x-intelligems-signature': sig };
  } else if (scheme === 'standard') {
    const [secret, id, bodyFile] = a;
    body = fs.readFileSync(bodyFile);
    const now = new Date();
    const sig = new Webhook(secret).sign(id, now, body.toString('utf8'));
    headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': sig,
    };
  } else {
    throw new Error(`unknown scheme ${scheme}`);
  }
  if (argv[argv.length - 1] === 'tamper') body = Buffer.concat([body, Buffer.from(' ')]);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  console.log(`${response.status} ${await response.text()}`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`post.js: ${e.message}`);
  process.exit(2);
});

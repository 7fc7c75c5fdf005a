#!/usr/bin/env node
'use strict';
/*
 * Usage: proxy.js --listen HOST:PORT --upstream URL --record FILE
 *                 [--cert PEM --key PEM] [--upstream-ca PEM]
 *                 -- COMMAND [ARG...]
 *
 * Runs COMMAND (a fabric-controller listening at URL) and stands in front
 * of it at HOST:PORT: every request goes to the controller unchanged, every
 * answer back to the client unchanged, and each exchange is appended to
 * FILE as one JSON object a line (method, path, status, content_type,
 * body) for check-responses.js to hold against controller/openapi.json;
 * a controller restarted behind a new proxy adds to the same FILE.
 * With --cert and --key the proxy speaks HTTPS, and with --upstream-ca it
 * reaches an HTTPS controller that presents a certificate of that CA.
 *
 * The proxy is the controller for whoever started it: it listens only once
 * the controller accepts connections, passes SIGTERM, SIGINT and SIGHUP on,
 * stops listening as soon as one arrives, and exits when the controller
 * does, with its status, so that "kill PID; wait PID" means the same as
 * without it.
 */

const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');
const {spawn} = require('child_process');

/* Headers that describe one hop, not the message; the proxy sets its own. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding',
                             'proxy-connection', 'upgrade', 'te', 'trailer']);

function usage(message) {
    process.stderr.write(`proxy.js: ${message}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {};
    let i = 0;
    for (; i < argv.length && argv[i] !== '--'; i += 2) {
        const name = argv[i].replace(/^--/, '');
        if (!['listen', 'upstream', 'record', 'cert', 'key',
              'upstream-ca'].includes(name) || i + 1 >= argv.length) {
            usage(`unknown option or missing value: ${argv[i]}`);
        }
        opts[name] = argv[i + 1];
    }
    opts.command = argv.slice(i + 1);
    for (const need of ['listen', 'upstream', 'record']) {
        if (!opts[need]) {
            usage(`--${need} is required`);
        }
    }
    if (opts.command.length === 0) {
        usage('no command after "--"');
    }
    const m = /^(.*):(\d+)$/.exec(opts.listen);
    if (!m) {
        usage(`--listen "${opts.listen}": must be HOST:PORT`);
    }
    opts.host = m[1];
    opts.port = Number(m[2]);
    opts.upstreamUrl = new URL(opts.upstream);
    return opts;
}

/* Appends one exchange to the recording at once, so that nothing is lost
 * when the proxy is killed. */
function record(opts, req, status, headers, body) {
    const line = JSON.stringify({
        method: req.method,
        path: req.url,
        status,
        content_type: headers['content-type'] || '',
        body: body.toString('utf8'),
    });
    fs.appendFileSync(opts.record, `${line}\n`);
}

/* Forwards request "req" with body "body" to the controller and its answer
 * to "res"; a controller that is gone closes the client's connection, as
 * it would have itself. */
function forward(opts, req, body, res) {
    let answered = false;
    const u = opts.upstreamUrl;
    const headers = {...req.headers};
    delete headers.connection;
    const client = u.protocol === 'https:' ? https : http;
    const upstream = client.request({
        host: u.hostname,
        port: u.port,
        method: req.method,
        path: req.url,
        headers,
        ca: opts['upstream-ca'] ? fs.readFileSync(opts['upstream-ca'])
            : undefined,
        agent: false,
    }, (ures) => {
        const chunks = [];
        ures.on('data', (c) => chunks.push(c));
        ures.on('end', () => {
            const answer = Buffer.concat(chunks);
            const out = {};
            for (const [name, value] of Object.entries(ures.headers)) {
                if (!HOP_HEADERS.has(name)) {
                    out[name] = value;
                }
            }
            if (req.method !== 'HEAD') {
                out['content-length'] = answer.length;
            }
            record(opts, req, ures.statusCode, ures.headers, answer);
            res.writeHead(ures.statusCode, ures.statusMessage, out);
            res.end(answer);
            /* A refused request's body was never sent: end it here. */
            answered = true;
            upstream.destroy();
        });
        ures.on('error', () => res.destroy());
    });
    /* A controller that refuses a request from its headers alone (413 for
     * a Content-Length over its limit) closes the connection instead of
     * reading the body: a body sent meanwhile would end in a reset, the
     * answer lost.  So a request that asked to wait for "100 Continue"
     * waits for it here too, and a refused one sends no body at all. */
    upstream.on('error', () => {
        if (!answered) {
            res.destroy();
        }
    });
    if (/100-continue/i.test(req.headers.expect || '')) {
        upstream.on('continue', () => upstream.end(body));
        upstream.flushHeaders();
    } else {
        upstream.end(body);
    }
}

/* Calls "done" once the controller accepts TCP connections, polling every
 * 50 ms while "child" runs. */
function whenUpstreamListens(opts, child, done) {
    const s = net.connect(Number(opts.upstreamUrl.port),
                          opts.upstreamUrl.hostname);
    s.on('connect', () => {
        s.destroy();
        done();
    });
    s.on('error', () => {
        s.destroy();
        if (child.exitCode === null && child.signalCode === null) {
            setTimeout(() => whenUpstreamListens(opts, child, done), 50);
        }
    });
}

function main() {
    const opts = parseArgs(process.argv.slice(2));
    const handler = (req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => forward(opts, req, Buffer.concat(chunks), res));
    };
    const server = opts.cert
        ? https.createServer({cert: fs.readFileSync(opts.cert),
                              key: fs.readFileSync(opts.key)}, handler)
        : http.createServer(handler);
    /* The controller's own limits on slow clients and long polls apply
     * behind us; the proxy must not cut a request short itself. */
    server.requestTimeout = 0;

    const child = spawn(opts.command[0], opts.command.slice(1),
                        {stdio: 'inherit'});
    child.on('error', (e) => {
        process.stderr.write(`proxy.js: cannot run ${opts.command[0]}: `
                             + `${e.message}\n`);
        process.exit(1);
    });
    child.on('exit', (code, signal) => {
        server.close();
        process.exit(code !== null ? code : 128 + (signal === 'SIGKILL' ? 9
            : signal === 'SIGINT' ? 2 : 15));
    });
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
        process.on(sig, () => {
            server.close();
            child.kill(sig);
        });
    }
    whenUpstreamListens(opts, child, () => {
        server.on('error', (e) => {
            process.stderr.write(`proxy.js: cannot listen at ${opts.listen}: `
                                 + `${e.message}\n`);
            child.kill('SIGTERM');
        });
        server.listen(opts.port, opts.host);
    });
}

main();

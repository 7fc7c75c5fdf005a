#!/usr/bin/env node
'use strict';
/*
 * Usage: from-pcap.js CAPTURE PORT
 *
 * Prints the HTTP exchanges with the controller at TCP port PORT that a
 * packet capture holds, in the recording format of proxy.js (one JSON
 * object a line: method, path, status, content_type, body), for
 * check-responses.js.  tshark reassembles the streams and decodes HTTP;
 * a capture changes nothing for the agents and the controller, which see
 * each other's real addresses, as a proxy in between would not.  A request
 * whose answer the capture does not hold (a long poll cut short, a
 * controller killed) is left out; an answer cut short is kept, and fails
 * the check.
 */

const {execFileSync} = require('child_process');

/* Runs tshark over the capture with display filter "filter", printing
 * "fields", HTTP bodies reassembled if "bodies", and returns its packets
 * as objects of arrays. */
function tshark(capture, port, filter, fields, bodies) {
    const args = ['-r', capture, '-n', '-d', `tcp.port==${port},http`,
                  '-o', 'tcp.desegment_tcp_streams:TRUE',
                  '-o', `http.desegment_body:${bodies ? 'TRUE' : 'FALSE'}`,
                  '-Y', filter, '-T', 'json'];
    for (const f of fields) {
        args.push('-e', f);
    }
    const out = execFileSync('tshark', args,
                             {maxBuffer: 1 << 30, stdio: ['ignore', 'pipe',
                                                         'ignore']});
    return JSON.parse(out.toString('utf8') || '[]')
        .map((p) => p._source.layers);
}

function main(argv) {
    if (argv.length !== 2) {
        process.stderr.write('usage: from-pcap.js CAPTURE PORT\n');
        return 2;
    }
    const [capture, port] = argv;
    /* Requests are read from their headers alone: a request whose body the
     * controller refused before reading it (413) never completes, and
     * would not show with its body reassembled.  HTTP/1.1 answers come in
     * the order of the requests on each connection (TCP stream). */
    const requests = new Map();
    for (const p of tshark(capture, port, 'http.request',
                           ['tcp.stream', 'http.request.method',
                            'http.request.uri'], false)) {
        const stream = p['tcp.stream'][0];
        if (!requests.has(stream)) {
            requests.set(stream, []);
        }
        requests.get(stream).push({method: p['http.request.method'][0],
                                   path: p['http.request.uri'][0]});
    }
    for (const p of tshark(capture, port, 'http.response',
                           ['tcp.stream', 'http.response.code',
                            'http.content_type', 'http.file_data'], true)) {
        const status = Number(p['http.response.code'][0]);
        /* "100 Continue" and the like precede the answer: not one. */
        if (status < 200) {
            continue;
        }
        const req = (requests.get(p['tcp.stream'][0]) || []).shift();
        if (!req) {
            process.stderr.write(`from-pcap.js: ${capture}: an answer on TCP `
                                 + `stream ${p['tcp.stream'][0]} without a `
                                 + 'request\n');
            return 1;
        }
        process.stdout.write(`${JSON.stringify({
            method: req.method,
            path: req.path,
            status,
            content_type: (p['http.content_type'] || [''])[0],
            body: (p['http.file_data'] || [''])[0],
        })}\n`);
    }
    return 0;
}

process.exitCode = main(process.argv.slice(2));

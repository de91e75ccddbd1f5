/** `diagon capture read FILE`: the wire frames in a pcap or pcapng file, like tshark. */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import {
  dissectCapture,
  FRAME_FILTERS,
  formatEventJson,
  formatEventLine,
  formatSummary,
} from '../services/capture/read.js';
import type { GlobalFlags } from './config.js';

export function captureCommand(flags: () => GlobalFlags): Command {
  const capture = new Command('capture').description('captures of the wire protocol');
  capture
    .command('read <file>')
    .description(
      'decode every Diagon frame in a pcap or pcapng file (tcpdump, Wireshark, the capture service)',
    )
    .option('--filter <type>', `only frames of this type: ${FRAME_FILTERS.join(', ')}`)
    .option('--port <port...>', "the edge's TCP port(s) in the capture (default 7420)")
    .option('--json', 'one JSON object per frame')
    .option('--no-summary', 'no summary at the end')
    .action(
      async (
        file: string,
        o: { filter?: string; port?: string[]; json?: boolean; summary: boolean },
      ) => {
        const json = o.json === true || flags().json === true;
        const bytes = await readFile(file);
        const lines: string[] = [];
        const flush = () => {
          if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
          lines.length = 0;
        };
        let startNs: bigint | undefined;
        const summary = dissectCapture(
          bytes,
          {
            ...(o.filter === undefined ? {} : { filter: o.filter }),
            ...(o.port === undefined ? {} : { serverPorts: o.port.map(Number) }),
          },
          (e) => {
            startNs ??= e.timeNs;
            lines.push(json ? formatEventJson(e) : formatEventLine(e, startNs));
            if (lines.length >= 4096) flush();
          },
        );
        flush();
        if (o.summary) process.stderr.write(`${formatSummary(summary)}\n`);
      },
    );
  return capture;
}

// CPU time of the workerd process that serves a Miniflare instance, for
// the benchmark's "CPU per request" column: on a shared 2-core machine the
// load generator's own share moves req/s by several per cent between
// rounds, while the CPU a Worker's process spends per request it answers
// does not (Linux only: /proc; elsewhere the column is empty).
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

const TICKS_PER_SECOND = 100;

/** The inode of the socket listening on 127.0.0.1:`port`, if any. */
function listeningInode(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address, state 0A = LISTEN, inode
      if (f[1]?.endsWith(`:${hex}`) && f[3] === "0A") return f[9];
    }
  }
  return undefined;
}

/** The pid whose open files include the socket `inode`. */
function ownerOf(inode) {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * A reader of the CPU seconds (user + system) spent so far by the process
 * serving `url`, or `undefined` where that cannot be found.
 */
export function cpuReader(url) {
  const inode = listeningInode(Number(new URL(url).port));
  const pid = inode && ownerOf(inode);
  if (!pid) return undefined;
  return () => {
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  };
}

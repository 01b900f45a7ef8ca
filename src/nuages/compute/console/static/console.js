// The VM console page (docs/console.md). The token comes in the URL fragment
// (#kind=serial&token=nuc_…), which browsers never send to a server; it is used once.
import { Terminal } from "/console/vendor/xterm/lib/xterm.mjs";
import { FitAddon } from "/console/vendor/addon-fit/lib/addon-fit.mjs";

const params = new URLSearchParams(window.location.hash.slice(1));
const kind = params.get("kind") === "vnc" ? "vnc" : "serial";
const token = params.get("token") || "";
// Forget the token at once: a reload must not try to reuse it.
history.replaceState(null, "", window.location.pathname);
const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
const url = `${scheme}//${window.location.host}/api/v1/console/ws?token=${encodeURIComponent(token)}`;
const status = document.getElementById("status");

function show(text, closed) {
  status.textContent = text;
  status.classList.toggle("closed", Boolean(closed));
}

function serial() {
  const box = document.getElementById("terminal");
  box.hidden = false;
  const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  window.addEventListener("resize", () => fit.fit());
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  ws.onopen = () => { show("connected: serial console"); term.focus(); };
  ws.onmessage = (event) => term.write(new Uint8Array(event.data));
  ws.onclose = (event) => show(`closed: ${event.reason || "connection lost"} (${event.code})`, true);
  term.onData((data) => { if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); });
  window.nuagesConsole = { ws, term };
}

async function vnc() {
  const { default: RFB } = await import("/console/vendor/novnc/core/rfb.js");
  const box = document.getElementById("display");
  box.hidden = false;
  const rfb = new RFB(box, url, { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => show("connected: graphical display"));
  rfb.addEventListener("disconnect", (event) =>
    show(event.detail.clean ? "closed" : "closed: connection lost or refused", true));
  window.nuagesConsole = { rfb };
}

if (!token) {
  show("no console token: open the console from the VM's page", true);
} else if (kind === "vnc") {
  vnc();
} else {
  serial();
}

// The rule editor's line-number gutter and "jump to the line" links. Plain script, served by Guard itself
// (no CDN: the console works offline); without it the textarea still edits and saves.
(function () {
  "use strict";
  var text = document.getElementById("text");
  var gutter = document.getElementById("gutter");
  if (!text || !gutter) { return; }

  function lineCount() { return text.value.split("\n").length; }

  // Numbers for the current text; the server's error marks stay until the number of lines changes.
  function render() {
    var count = lineCount();
    if (count === gutter.children.length) { return; }
    var fragment = document.createDocumentFragment();
    for (var i = 1; i <= count; i++) {
      var span = document.createElement("span");
      span.id = "G" + i;
      span.textContent = String(i);
      fragment.appendChild(span);
    }
    gutter.replaceChildren(fragment);
    gutter.scrollTop = text.scrollTop;
  }

  function lineHeight() { return parseFloat(window.getComputedStyle(text).lineHeight) || 18; }

  // Select line `n`, scroll the textarea to it and mark it in the gutter.
  function jump(n, focus) {
    var lines = text.value.split("\n");
    n = Math.min(Math.max(n, 1), lines.length);
    var start = 0;
    for (var i = 0; i < n - 1; i++) { start += lines[i].length + 1; }
    if (focus) {
      text.focus({ preventScroll: true });
      text.setSelectionRange(start, start + lines[n - 1].length);
      text.scrollIntoView({ block: "nearest" });
    }
    text.scrollTop = Math.max(0, (n - 1) * lineHeight() - text.clientHeight / 3);
    gutter.scrollTop = text.scrollTop;
    var current = gutter.querySelector(".g-current");
    if (current) { current.classList.remove("g-current"); }
    var target = document.getElementById("G" + n);
    if (target) { target.classList.add("g-current"); }
  }

  text.addEventListener("input", render);
  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  document.querySelectorAll("a[data-line]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      jump(parseInt(link.getAttribute("data-line"), 10), true);
    });
  });
  render();
  if (text.getAttribute("data-error-line")) { jump(parseInt(text.getAttribute("data-error-line"), 10), false); }
}());

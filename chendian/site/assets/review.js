// The review page's buttons: under `chendian serve`, POST the decision to /api/curate (same origin, JSON, so a
// page elsewhere cannot forge one). On a static host there is no API: say so and point at the CLI command.
(function () {
  "use strict";
  var status = document.querySelector(".review-status");
  function say(text) { if (status) { status.textContent = text; } }
  document.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var entry = button.getAttribute("data-entry"), action = button.getAttribute("data-action");
      var item = document.getElementById(entry);
      fetch("/api/curate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ entry: entry, action: action })
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) { throw new Error(result.body.message || "failed"); }
        if (item) {
          item.setAttribute("data-decided", action);
          item.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }
        say((action === "approve" ? "已通过：" : "已驳回：") + entry + "（下次运行后生效）");
      }).catch(function (error) {
        say("无法保存（" + error.message + "）。请在服务器上运行：chendian faq " + action + " " + entry);
      });
    });
  });
})();

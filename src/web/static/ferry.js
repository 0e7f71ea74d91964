// The partner web client's one script: uploads with a progress bar each.
// Without it the upload form still works (a multipart POST to /upload).
"use strict";
(function () {
  var form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest) { return; }
  var csrf = form.querySelector("input[name=csrf]").value;
  var list = document.getElementById("progress");

  function send(file) {
    return new Promise(function (resolve) {
      var row = document.createElement("p");
      var label = document.createElement("span");
      label.textContent = file.name + " ";
      var bar = document.createElement("progress");
      bar.max = file.size || 1;
      bar.value = 0;
      row.appendChild(label);
      row.appendChild(bar);
      list.appendChild(row);
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", "/inbox/" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.onprogress = function (e) { bar.value = e.loaded; };
      xhr.onload = function () {
        var done = document.createElement("span");
        var ok = xhr.status >= 200 && xhr.status < 300;
        done.className = ok ? "ok" : "bad";
        var text = ok ? " stored" : " refused";
        try { var answer = JSON.parse(xhr.responseText); text = ok ? " stored, SHA-256 " + answer.sha256 : " " + answer.error; } catch (err) { /* keep the plain text */ }
        done.textContent = text;
        row.appendChild(done);
        resolve(ok);
      };
      xhr.onerror = function () {
        var failed = document.createElement("span");
        failed.className = "bad";
        failed.textContent = " the connection failed";
        row.appendChild(failed);
        resolve(false);
      };
      xhr.send(file);
    });
  }

  form.addEventListener("submit", function (event) {
    var files = document.getElementById("files").files;
    if (!files.length) { return; }
    event.preventDefault();
    list.textContent = "";
    var all = Array.prototype.slice.call(files);
    all.reduce(function (chain, file) {
      return chain.then(function (okSoFar) { return send(file).then(function (ok) { return okSoFar && ok; }); });
    }, Promise.resolve(true)).then(function (ok) {
      if (ok) { window.location.assign("/?done=sent"); }
    });
  });
})();

// The disruption form's place picker: filter the places by name and list the ticked ones.
(function () {
  var filter = document.getElementById("place-filter");
  var box = document.getElementById("place-box");
  var help = document.getElementById("places-help");
  if (!filter || !box) return;
  function picked() {
    var names = [];
    box.querySelectorAll("input:checked").forEach(function (input) { names.push(input.parentNode.textContent.trim()); });
    help.textContent = names.length ? "Picked: " + names.join(", ") : "Tick every place it hits; customers of the places under them count too.";
  }
  filter.addEventListener("input", function () {
    var q = filter.value.trim().toLowerCase();
    box.querySelectorAll("fieldset").forEach(function (group) {
      var shown = 0;
      group.querySelectorAll("label.opt").forEach(function (label) {
        var hit = !q || label.dataset.name.indexOf(q) !== -1 || label.querySelector("input").checked;
        label.hidden = !hit;
        if (hit) shown += 1;
      });
      group.hidden = shown === 0;
    });
  });
  filter.addEventListener("keydown", function (event) { if (event.key === "Enter") event.preventDefault(); });
  box.addEventListener("change", picked);
  picked();
})();

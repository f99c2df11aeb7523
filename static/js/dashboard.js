// Dashboard: "select all" in each bulk-reassign list, and a confirmation naming what will change.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.bulk-reassign").forEach(function (form) {
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.addEventListener("change", function () {
        form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
      });
    }
    form.addEventListener("submit", function (event) {
      var count = form.querySelectorAll("input[name=ids]:checked").length;
      var select = form.querySelector("select[name=assignee]");
      var who = select.options[select.selectedIndex].text;
      if (count === 0) { event.preventDefault(); window.alert("Select at least one case first."); return; }
      if (!window.confirm("Reassign " + count + " case(s) to " + who + "?")) { event.preventDefault(); }
    });
  });
});

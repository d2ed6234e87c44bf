// Quick campaign: show only the inputs of the chosen audience and time; the server validates either way.
(function () {
  function sync() {
    var audience = document.querySelector('input[name="audience"]:checked');
    var when = document.querySelector('input[name="when"]:checked');
    document.getElementById('quick-segment').hidden = !(audience && audience.value === 'segment');
    document.getElementById('quick-file').hidden = !(audience && audience.value === 'upload');
    document.getElementById('quick-later').hidden = !(when && when.value === 'later');
  }
  document.querySelectorAll('input[name="audience"], input[name="when"]').forEach(function (el) {
    el.addEventListener('change', sync);
  });
  sync();
})();

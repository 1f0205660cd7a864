// The Telegram Login Widget calls this with the signed user data; the server checks it.
function panelWidgetLogin(user) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/login/telegram";
  for (const [name, value] of Object.entries(user)) {
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    field.value = String(value);
    form.appendChild(field);
  }
  document.body.appendChild(form);
  form.submit();
}

document.getElementById("status").textContent = "Wallet page under construction.";

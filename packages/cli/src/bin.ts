console.log("fermix")

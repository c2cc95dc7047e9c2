variable project_name
set project_name "myproject"
variable backend
set backend "vitis"

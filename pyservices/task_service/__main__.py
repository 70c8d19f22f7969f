from pyservices.task_service import main

main.main()

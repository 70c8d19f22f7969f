from pyservices.worker import main

main.main()
